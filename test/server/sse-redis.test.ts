// An SSE stream resumes across a restart of its server, with the Redis broker:
// publications keep coming through another node while the stream's node is
// down, and the stream, reopened on the restarted node with Last-Event-ID,
// sees every offset of both channels exactly once, in order.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SseStream } from '../helpers/sse.js';

const available = await requireService('Redis', REDIS_URL);
const PREFIX = `sse-test-${randomUUID()}`;
const TOTAL = 400;
const config = { namespaces: { '': { history: { size: 1_000, ttl: 600_000 } } }, limits: { messagesPerSecond: 100_000, burst: 100_000 } };

const servers: SwitchboardServer[] = [];
async function node(port = 0): Promise<{ server: SwitchboardServer; url: string }> {
  const server = createServer({ ...config, logger: pino({ level: 'silent' }), broker: new RedisBroker({ url: REDIS_URL, prefix: PREFIX }) });
  servers.push(server);
  const { url } = await server.listen(port, '127.0.0.1');
  return { server, url };
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.close()));
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

it.runIf(available)('resumes from Last-Event-ID on the restarted node: nothing missing, nothing twice', async () => {
  const publisher = await node();
  const port = await freePort();
  const first = await node(port);
  const query = `/sse?channel=a&channel=b`;
  const seen: Record<string, number[]> = { a: [], b: [] };
  const record = (stream: SseStream, from: number) => {
    for (const message of stream.of('message').slice(from)) seen[message.channel]!.push(message.offset);
  };

  let stream = await SseStream.accepted(`${first.url}${query}`);
  await stream.until(() => stream.events.length > 0);
  // Publish the whole run through the other node, without waiting for the stream.
  const publishing = (async () => {
    for (let i = 1; i <= TOTAL; i++) await publisher.server.publish(i % 2 ? 'a' : 'b', i);
  })();
  await stream.until(() => stream.of('message').length >= TOTAL / 4);
  // Restart the stream's node mid-run: the stream gets its close event and ends.
  await first.server.close();
  await stream.until(() => stream.ended);
  record(stream, 0);
  const cursor = stream.lastEventId;
  expect(stream.of('close')).toEqual([{ code: 1012, reason: expect.stringMatching(/^\{"retryIn":\d+\}$/) }]);

  const restarted = await node(port);
  stream = await SseStream.accepted(`${restarted.url}${query}`, { 'Last-Event-ID': cursor });
  await publishing;
  await stream.until(() => stream.of('message').length + seen.a!.length + seen.b!.length >= TOTAL);
  expect(stream.of('reset')).toEqual([]);
  record(stream, 0);
  stream.close();
  const expected = Array.from({ length: TOTAL / 2 }, (_, i) => i + 1);
  expect(seen.a).toEqual(expected);
  expect(seen.b).toEqual(expected);
});
