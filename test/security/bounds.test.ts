// Each resource a client can make the server hold has a bound: these tests
// attack it as the hardening review did (scaled down by lowering the bound in
// the config) and assert that the bound holds and is counted in /metrics.
import { afterEach, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';
import { limitHits, sessionsOf } from '../helpers/sessions.js';

let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

/** A payload like the attack's: `[{},{},...]` of about `bytes` bytes, cheap to send and costly to hold as objects. */
const emptyObjects = (bytes: number) => Array.from({ length: Math.floor(bytes / 3) }, () => ({}));

it('bounds history by bytes per channel and per node, however much is published', async () => {
  const broker = new MemoryBroker({ maxBytes: 300_000 });
  srv = await startServer({
    broker,
    limits: { historyBytesPerChannel: 60_000, maxPayload: 100_000, burst: 1_000, messagesPerSecond: 1_000, bytesPerSecond: 1e9, bytesBurst: 1e9 },
    namespaces: { '': { history: { size: 100, ttl: 300_000 } } },
  });
  const attacker = await RawClient.connect(srv.wsUrl);
  // One channel first: its own bound evicts its oldest.
  for (let i = 0; i < 10; i++) await attacker.ok({ type: 'publish', channel: 'solo', payload: emptyObjects(30_000) });
  const solo = await attacker.ok({ type: 'history', channel: 'solo', limit: 100 });
  expect(solo.publications.map((p: any) => p.offset)).toEqual([6, 7, 8, 9, 10]);
  expect(await limitHits(srv.server, 'historyBytesPerChannel')).toBe(5);
  // 25 channels x 10 publications of ~30 KB: 7.5 MB offered, against 300 KB for the node.
  for (let round = 0; round < 10; round++) {
    await Promise.all(Array.from({ length: 25 }, (_, c) => attacker.ok({ type: 'publish', channel: `big${c}`, payload: emptyObjects(30_000) })));
    expect(broker.heldBytes).toBeLessThanOrEqual(300_000);
  }
  await attacker.close();
  // Each channel keeps its newest publications within its own bound too.
  const reader = await RawClient.connect(srv.wsUrl);
  const page = await reader.ok({ type: 'history', channel: 'big24', limit: 100 });
  expect(page.publications.length).toBeGreaterThan(0);
  expect(page.publications.at(-1).offset).toBe(10);
  expect(await limitHits(srv.server, 'historyBytes')).toBeGreaterThan(0);
  // Recovery from an evicted position says so.
  const resumed = await reader.ok({ type: 'subscribe', channel: 'big24', since: { epoch: page.epoch, offset: 1 } });
  expect(resumed.recovered).toBe(false);
  await reader.close();
});

it('reading channels that have no state creates none', async () => {
  const broker = new MemoryBroker();
  srv = await startServer({ broker, limits: { burst: 1_000, messagesPerSecond: 1_000, bytesPerSecond: 1e9, bytesBurst: 1e9 } });
  const client = await RawClient.connect(srv.wsUrl);
  const name = (i: number) => `${'n'.repeat(240)}${i}`;
  await Promise.all(Array.from({ length: 500 }, (_, i) => client.ok({ type: 'history', channel: name(i), limit: 100 })));
  expect(broker.channelCount).toBe(0);
  expect(srv.server.operations.stats().channels).toBe(0);
  await client.close();
});

it('bounds subscriptions per connection with forbidden, counted', async () => {
  srv = await startServer({ limits: { subscriptionsPerConnection: 10 } });
  const client = await RawClient.connect(srv.wsUrl);
  for (let i = 0; i < 10; i++) await client.ok({ type: 'subscribe', channel: `s${i}` });
  const refused = await client.request({ type: 'subscribe', channel: 's10' });
  expect(refused.error).toEqual({ code: 'forbidden', message: 'at most 10 subscriptions per connection' });
  expect(await limitHits(srv.server, 'subscriptionsPerConnection')).toBe(1);
  await client.ok({ type: 'unsubscribe', channel: 's0' });
  await client.ok({ type: 'subscribe', channel: 's10' });
  await client.close();
});

it('closes a client that never reads with 4008 before its queue passes the limit', async () => {
  const limit = 300_000;
  srv = await startServer({
    limits: { outboundBufferBytes: limit, maxPayload: 200_000, burst: 1_000, messagesPerSecond: 1_000, bytesPerSecond: 1e9, bytesBurst: 1e9 },
    namespaces: { '': { history: { size: 100, ttl: 300_000, bytes: 10_000_000 } } },
  });
  const filler = await RawClient.connect(srv.wsUrl);
  for (let i = 0; i < 30; i++) await filler.ok({ type: 'publish', channel: 'heavy', payload: 'z'.repeat(100_000) });
  await filler.close();
  // 20 clients that never read, each asking for the whole history more than once.
  const readers = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(srv!.wsUrl)));
  for (const reader of readers) {
    (reader.ws as any)._socket.pause();
    for (let i = 0; i < 60; i++) reader.send({ type: 'history', id: i, channel: 'heavy', limit: 100 });
  }
  // They never read our close frame either: the server has closed them once the hits are counted.
  await expect.poll(() => limitHits(srv!.server, 'outboundBufferBytes'), { timeout: 10_000 }).toBe(20);
  const sessions = sessionsOf(srv.server);
  expect(sessions.map((s) => s.closeCode)).toEqual(Array(20).fill(4008));
  // What each holds stays under the limit: the frame that would pass it was never queued.
  for (const session of sessions) expect(session.bufferedAmount).toBeLessThanOrEqual(limit);
  for (const reader of readers) reader.ws.terminate();
});

it('owner checks compare the whole user id: inbox#team#7 belongs to team#7, not to 7', async () => {
  srv = await startServer({ jwtSecret: SECRET, namespaces: { '': { history: { size: 10, ttl: 60_000 } } } });
  const seven = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: '7' })}`);
  const team = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'team#7' })}`);
  const denied = await seven.request({ type: 'subscribe', channel: 'inbox#team#7' });
  expect(denied.error.code).toBe('forbidden');
  expect((await seven.request({ type: 'history', channel: 'inbox#team#7' })).error.code).toBe('forbidden');
  await team.ok({ type: 'subscribe', channel: 'inbox#team#7' });
  expect((await team.request({ type: 'history', channel: 'inbox#team#7' })).ok).toBe(true);
  await seven.ok({ type: 'subscribe', channel: 'inbox#7' });
  expect((await team.request({ type: 'subscribe', channel: 'inbox#7' })).error.code).toBe('forbidden');
  await Promise.all([seven.close(), team.close()]);
});

it('refuses a namespace name with # in the config', async () => {
  await expect(startServer({ namespaces: { 'a#b': {} } })).rejects.toThrow(/namespaces\.a#b/);
});
