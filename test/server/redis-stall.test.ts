// Redis stalls (SIGSTOP: the process answers nothing, its TCP connections stay
// up): every request is answered `unavailable` within brokerTimeout instead of
// hanging, readiness turns 503, and when Redis resumes everything works again.
import { afterEach, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const available = await requireService('Redis', REDIS_URL);
const KEY = 'stall-test-key';
let redis: RedisProcess | null = null;
let srv: TestServer | null = null;
const clients: RawClient[] = [];
afterEach(async () => {
  // Never leave a stopped redis-server behind; SIGKILL ends a stopped process too.
  redis?.resume();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await srv?.close();
  await redis?.kill();
  redis = srv = null;
});

async function limitHits(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^switchboard_limit_hits_total\{limit="brokerTimeout"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

it.runIf(available)(
  'answers unavailable while Redis is stopped, turns unready, and recovers when it resumes',
  async () => {
    redis = await startRedis(await freePort());
    // The default broker, so that the config key reaches it.
    srv = await startServer({ redis: redis.url, brokerTimeout: 300, apiKey: KEY });
    const url = srv.url;
    const readyz = async () => (await fetch(`${url}/readyz`)).status;
    const apiPublish = (payload: unknown) =>
      fetch(`${url}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `apikey ${KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel: 'news', payload }),
      });
    expect(await readyz()).toBe(200);

    const listener = await RawClient.connect(srv.wsUrl);
    const publisher = await RawClient.connect(srv.wsUrl);
    clients.push(listener, publisher);
    await listener.ok({ type: 'subscribe', channel: 'news' });
    expect(await publisher.ok({ type: 'publish', channel: 'news', payload: 'before' })).toEqual({ offset: 1 });
    const hitsBefore = await limitHits(url);

    redis.stop();
    const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => publisher.request({ type: 'publish', channel: 'news', payload: `during ${i}` })));
    for (const reply of replies) {
      expect(reply.ok).toBe(false);
      expect(reply.error.code).toBe('unavailable');
      expect(reply.error.message).toContain('may still have been stored');
    }
    const subscribe = await publisher.request({ type: 'subscribe', channel: 'other' });
    expect(subscribe.ok).toBe(false);
    expect(subscribe.error.code).toBe('unavailable');
    expect((await apiPublish('during api')).status).toBe(503);
    await expect.poll(readyz, { timeout: 5_000 }).toBe(503);
    // Ten publishes, the subscribe and the API publish.
    expect(await limitHits(url)).toBeGreaterThanOrEqual(hitsBefore + 12);

    redis.resume();
    await expect.poll(readyz, { timeout: 5_000 }).toBe(200);
    const after = await publisher.ok({ type: 'publish', channel: 'news', payload: 'after' });
    // The ten timed-out publications were stored once Redis resumed: 'after' comes behind them.
    expect(after.offset).toBeGreaterThan(1);
    const delivered = await listener.next((f) => f.type === 'message' && f.payload === 'after');
    expect(delivered.offset).toBe(after.offset);
    // Nothing was lost: the subscriber got every stored publication, in order, with no gap.
    expect(listener.messages('news').map((m) => m.offset)).toEqual(Array.from({ length: after.offset }, (_, i) => i + 1));
    // A subscribe that timed out was undone; subscribing again works.
    await publisher.ok({ type: 'subscribe', channel: 'other' });
  },
  20_000,
);
