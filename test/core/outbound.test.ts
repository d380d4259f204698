// The core driven through the Transport seam, with no socket: what a client
// that never reads can make the server encode and queue.
import { expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { jsonCodec, type Codec } from '../../src/protocol/codec.js';
import { ANONYMOUS } from '../../src/server/auth.js';
import { parseConfig } from '../../src/server/config.js';
import type { Core } from '../../src/server/core/index.js';
import { inside, makeCore, sessionOf } from './harness.js';
import { FakeTransport } from '../helpers/fake-transport.js';

async function core(limits: Record<string, number>) {
  const config = parseConfig({ limits, namespaces: { '': { history: { size: 100, ttl: 60_000, bytes: 10_000_000 } } } });
  const c = makeCore(config, new MemoryBroker());
  await c.start();
  return c;
}

/** JSON, counting every frame it encodes. */
function countingCodec(): Codec & { encoded: number } {
  const codec = { ...jsonCodec, encoded: 0, encode: (frame: unknown) => (codec.encoded++, jsonCodec.encode(frame)) };
  return codec;
}

const send = (c: Core, session: ReturnType<Core['open']>, frame: unknown) => c.message(session, Buffer.from(JSON.stringify(frame)), false);
const turn = () => new Promise((resolve) => setImmediate(resolve));

it('closes a session before queueing the frame that would pass its outbound limit, and encodes nothing after', async () => {
  const limit = 1_000_000;
  const c = await core({ outboundBufferBytes: limit, maxReplyBytes: 400_000, burst: 1_000 });
  // 100 publications of 100 KB: 10 MB of history, as in the attack (scaled down).
  for (let i = 0; i < 100; i++) await inside(c).hub.publish('big', 'x'.repeat(100_000), undefined, inside(c).namespaces.resolve('big'));
  const transport = new FakeTransport();
  const codec = countingCodec();
  const session = sessionOf(c.open(transport, { identity: ANONYMOUS, codec, ip: '127.0.0.1' }));
  // 200 history requests pipelined by a client that never reads.
  for (let id = 1; id <= 200; id++) send(c, session, { type: 'history', id, channel: 'big', limit: 100 });
  await session.whenIdle();
  await turn();
  expect(transport.closedWith?.code).toBe(4008);
  expect(transport.peak).toBeLessThanOrEqual(limit);
  // welcome plus the replies that fit, plus the one that did not: nothing for the rest.
  const replies = transport.frames().filter((f) => f.type === 'reply');
  expect(replies.length).toBeGreaterThan(0);
  expect(replies.length).toBeLessThan(5);
  expect(codec.encoded).toBeLessThanOrEqual(replies.length + 2);
  expect(inside(c).limitHits.get('outboundBufferBytes')).toBe(1);
  for (const reply of replies) expect(reply.payload.truncated).toBe(true);
  await c.stop();
});

it('cuts a history reply to maxReplyBytes and says so; a page with since follows on', async () => {
  const c = await core({ maxReplyBytes: 250_000 });
  for (let i = 0; i < 10; i++) await inside(c).hub.publish('pages', `${i}:${'y'.repeat(100_000)}`, undefined, inside(c).namespaces.resolve('pages'));
  const transport = new FakeTransport();
  const session = sessionOf(c.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  send(c, session, { type: 'history', id: 1, channel: 'pages', limit: 100 });
  await session.whenIdle();
  const first = transport.frames().find((f) => f.id === 1)!;
  expect(first.payload.truncated).toBe(true);
  expect(first.payload.publications.map((p: any) => p.offset)).toEqual([9, 10]);
  expect(Buffer.byteLength(JSON.stringify(first))).toBeLessThanOrEqual(250_000);
  send(c, session, { type: 'history', id: 2, channel: 'pages', since: { epoch: first.payload.epoch, offset: 0 } });
  await session.whenIdle();
  const after = transport.frames().find((f) => f.id === 2)!;
  expect(after.payload.publications.map((p: any) => p.offset)).toEqual([1, 2]);
  expect(inside(c).limitHits.get('maxReplyBytes')).toBe(2);
  await c.stop();
});

it('answers at most requestsInFlight requests at once, parks the rest with reading paused, and answers them all in order', async () => {
  const c = await core({ requestsInFlight: 4, burst: 1_000 });
  let running = 0;
  let peak = 0;
  const release: Array<() => void> = [];
  inside(c).rpc.register('slow', async () => {
    peak = Math.max(peak, ++running);
    await new Promise<void>((resolve) => release.push(resolve));
    running--;
    return 'done';
  });
  const transport = new FakeTransport();
  const session = sessionOf(c.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  for (let id = 1; id <= 50; id++) send(c, session, { type: 'rpc', id, method: 'slow', payload: null });
  await turn();
  expect(running).toBe(4);
  expect(transport.paused).toBe(true);
  expect(session.parked.length).toBe(46);
  while (transport.frames().filter((f) => f.type === 'reply').length < 50) {
    release.splice(0).forEach((wake) => wake());
    await turn();
  }
  expect(peak).toBe(4);
  expect(transport.paused).toBe(false);
  expect(
    transport
      .frames()
      .filter((f) => f.type === 'reply')
      .map((f) => f.id),
  ).toEqual([...Array(50).keys()].map((i) => i + 1));
  await c.stop();
});

it('drops parked requests of a session that closed, without answering or running them', async () => {
  const c = await core({ requestsInFlight: 1, burst: 1_000 });
  let calls = 0;
  let release = () => {};
  inside(c).rpc.register('slow', () => {
    calls++;
    return new Promise((resolve) => (release = () => resolve('late')));
  });
  const transport = new FakeTransport();
  const session = sessionOf(c.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  for (let id = 1; id <= 5; id++) send(c, session, { type: 'rpc', id, method: 'slow', payload: null });
  c.closed(session, 1006, '');
  release();
  await session.whenIdle();
  await turn();
  expect(calls).toBe(1);
  expect(transport.frames().filter((f) => f.type === 'reply')).toEqual([]);
  await c.stop();
});
