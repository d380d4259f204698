// The core driven through the Transport seam with a fake transport and an
// injected clock: rate limiting, catch-up ordering and the slow-consumer
// threshold, pinned in milliseconds without sockets or sleeps.
import { expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { jsonCodec } from '../../src/protocol/codec.js';
import { ANONYMOUS } from '../../src/server/auth.js';
import { parseConfig, type ConfigInput } from '../../src/server/config.js';
import type { Core } from '../../src/server/core/index.js';
import { inside, makeCore, sessionOf } from './harness.js';
import { FakeTransport } from '../helpers/fake-transport.js';
import { SlowAnswers } from '../helpers/slow-broker.js';

async function core(input: ConfigInput, options: { clock?: () => number; slow?: boolean } = {}) {
  const broker = options.slow ? new SlowAnswers(new MemoryBroker()) : new MemoryBroker();
  const c = makeCore(parseConfig(input), broker, options.clock);
  await c.start();
  return c;
}

function client(c: Core) {
  const transport = new FakeTransport();
  const session = sessionOf(c.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  const send = (frame: unknown) => c.message(session, Buffer.from(JSON.stringify(frame)), false);
  return { transport, session, send };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

it('rate limits with the token bucket: refused past the burst, refilled by time, closed 4029 past twice the burst', async () => {
  let now = 0;
  const c = await core({ limits: { messagesPerSecond: 5, burst: 5 } }, { clock: () => now });
  const { transport, send } = client(c);
  for (let id = 1; id <= 8; id++) send({ type: 'ping', id });
  const answers = () => transport.frames().filter((f) => f.id !== undefined);
  expect(answers().map((f) => f.type)).toEqual(['pong', 'pong', 'pong', 'pong', 'pong', 'reply', 'reply', 'reply']);
  expect(answers()[5]!.error.code).toBe('rate_limited');
  // One second refills five tokens: the three refused ones are owed first.
  now += 1_000;
  send({ type: 'ping', id: 9 });
  send({ type: 'ping', id: 10 });
  expect(
    answers()
      .slice(8)
      .map((f) => f.type),
  ).toEqual(['pong', 'pong']);
  // A client that ignores rate_limited is cut off once it owes another full burst.
  for (let id = 11; id <= 30 && transport.closedWith === null; id++) send({ type: 'ping', id });
  expect(transport.closedWith?.code).toBe(4029);
  await c.stop();
});

it('limits bytes as well as messages: large frames past the byte bucket are refused, and a client that ignores it is cut off', async () => {
  let now = 0;
  const c = await core({ limits: { maxPayload: 100_000, bytesPerSecond: 100_000, bytesBurst: 200_000, burst: 1_000 } }, { clock: () => now });
  const { transport, send } = client(c);
  const big = 'x'.repeat(90_000);
  for (let id = 1; id <= 3; id++) send({ type: 'publish', id, channel: 'bulk', payload: big });
  await turn();
  const replies = () =>
    transport
      .frames()
      .filter((f) => f.type === 'reply')
      .sort((a, b) => a.id - b.id);
  expect(replies().map((f) => (f.ok ? 'ok' : f.error.code))).toEqual(['ok', 'ok', 'rate_limited']);
  expect(replies()[2]!.error.message).toBe('message or byte rate over its limit; slow down');
  expect(inside(c).limitHits.get('bytesPerSecond')).toBe(1);
  // Two seconds refill 200,000 bytes: the debt of the refused frame first.
  now += 2_000;
  send({ type: 'publish', id: 4, channel: 'bulk', payload: big });
  await turn();
  expect(replies()[3]).toMatchObject({ id: 4, ok: true });
  // Ignoring the refusals, a client is cut off once it owes another full bucket.
  for (let id = 5; id <= 20 && transport.closedWith === null; id++) send({ type: 'publish', id, channel: 'bulk', payload: big });
  expect(transport.closedWith?.code).toBe(4029);
  await c.stop();
});

it('never sets the byte bucket below maxPayload (docs/security.md): a frame of maxPayload bytes passes on a fresh connection', async () => {
  // Raised, whether bytesBurst was set below maxPayload or left at its default under a larger maxPayload.
  expect(parseConfig({ limits: { maxPayload: 100_000, bytesBurst: 40_000 } }).limits.bytesBurst).toBe(100_000);
  expect(parseConfig({ limits: { maxPayload: 8_388_608 } }).limits.bytesBurst).toBe(8_388_608);
  expect(parseConfig({ limits: { maxPayload: 100_000, bytesBurst: 400_000 } }).limits.bytesBurst).toBe(400_000);
  // With a 40,000-byte bucket as set, the first 90 KB frame (within maxPayload) would close the connection with 4029.
  const c = await core({ limits: { maxPayload: 100_000, bytesPerSecond: 100_000, bytesBurst: 40_000, burst: 1_000 } }, { clock: () => 0 });
  const { transport, send } = client(c);
  send({ type: 'publish', id: 1, channel: 'bulk', payload: 'x'.repeat(90_000) });
  await turn();
  expect(transport.closedWith).toBeNull();
  expect(transport.frames().find((f) => f.type === 'reply')).toMatchObject({ id: 1, ok: true });
  await c.stop();
});

it('catches up in order: replayed, then buffered, then live publications, each once, while history answers are slow', async () => {
  const c = await core({ namespaces: { '': { history: { size: 1_000, ttl: 60_000 } } } }, { slow: true });
  const ns = inside(c).namespaces.resolve('feed');
  for (let i = 1; i <= 20; i++) await inside(c).hub.publish('feed', i, undefined, ns);
  const { transport, session, send } = client(c);
  const epoch = (await inside(c).hub.history('feed', ns, 0)).epoch!;
  send({ type: 'subscribe', id: 1, channel: 'feed', since: { epoch, offset: 5 } });
  // Publications keep coming while the subscribe waits on the broker's answers.
  for (let i = 21; i <= 40; i++) {
    await inside(c).hub.publish('feed', i, undefined, ns);
    await turn();
  }
  await session.whenIdle();
  const frames = transport.frames();
  const reply = frames.findIndex((f) => f.id === 1);
  expect(frames[reply]!.payload.recovered).toBe(true);
  const offsets = frames
    .slice(reply + 1)
    .filter((f) => f.type === 'message')
    .map((f) => f.offset);
  expect(offsets).toEqual([...Array(35).keys()].map((i) => i + 6));
  // Nothing before the reply.
  expect(frames.slice(0, reply).filter((f) => f.type === 'message')).toEqual([]);
  await c.stop();
});

it('closes a slow consumer with 4008 at the threshold, before queueing the frame that passes it', async () => {
  const c = await core({ limits: { outboundBufferBytes: 10_000, maxReplyBytes: 5_000 } });
  const ns = inside(c).namespaces.resolve('fast');
  const { transport, session, send } = client(c);
  send({ type: 'subscribe', id: 1, channel: 'fast' });
  // Answered (its history read is sent at the end of the turn, with any others of the channel's).
  await session.whenIdle();
  const frameSize = Buffer.byteLength(JSON.stringify({ type: 'message', channel: 'fast', offset: 1, payload: 'x'.repeat(1_000) }));
  let published = 0;
  while (transport.closedWith === null && published < 100) {
    await inside(c).hub.publish('fast', 'x'.repeat(1_000), undefined, ns);
    published++;
  }
  expect(transport.closedWith?.code).toBe(4008);
  expect(transport.peak).toBeLessThanOrEqual(10_000);
  expect(transport.peak).toBeGreaterThan(10_000 - frameSize - 200);
  const sent = transport.frames().filter((f) => f.type === 'message').length;
  // Everything published before the threshold was sent, nothing after.
  expect(sent).toBe(published - 1);
  await c.stop();
});
