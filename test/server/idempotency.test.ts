// Idempotent publish (docs/protocol.md, "Idempotent publish"): a repeated key
// on the same channel within the window is answered with the first offset and
// neither stored nor delivered again, over WebSocket and the HTTP API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const KEY = 'api-key-for-tests';
let clock = 1_000_000;
let srv: TestServer;

beforeAll(async () => {
  srv = await startServer({
    apiKey: KEY,
    idempotencyWindow: 60_000,
    broker: new MemoryBroker({ now: () => clock }),
    namespaces: { '': { history: { size: 100, ttl: 600_000 } }, live: {} },
  });
});
afterAll(() => srv.close());

function publish(body: unknown) {
  return fetch(`${srv.url}/api/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `apikey ${KEY}` },
    body: JSON.stringify(body),
  });
}

async function historyPayloads(channel: string): Promise<unknown[]> {
  const res = await fetch(`${srv.url}/api/history?channel=${channel}`, { headers: { Authorization: `apikey ${KEY}` } });
  return ((await res.json()).publications as any[]).map((p) => p.payload);
}

describe('through the HTTP API', () => {
  it('answers the same key twice with the same offset, and the history holds one', async () => {
    await publish({ channel: 'orders', payload: 'before' });
    const first = await publish({ channel: 'orders', payload: { id: 7 }, idempotencyKey: 'order-7' });
    const again = await publish({ channel: 'orders', payload: { id: 7 }, idempotencyKey: 'order-7' });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ offset: 2 });
    expect(await again.json()).toEqual({ offset: 2 });
    expect(await historyPayloads('orders')).toEqual(['before', { id: 7 }]);
  });

  it('refuses a key longer than 64 characters with 400', async () => {
    const res = await publish({ channel: 'orders', payload: 1, idempotencyKey: 'k'.repeat(65) });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('bad_request');
  });
});

describe('over WebSocket', () => {
  it('stores and delivers a repeat once, answering the first offset, and shares keys with the HTTP API', async () => {
    const watcher = await RawClient.connect(srv.wsUrl);
    await watcher.ok({ type: 'subscribe', channel: 'ws-once' });
    const sender = await RawClient.connect(srv.wsUrl);
    expect(await sender.ok({ type: 'publish', channel: 'ws-once', payload: 'a', idempotencyKey: 'k1' })).toEqual({ offset: 1 });
    expect(await sender.ok({ type: 'publish', channel: 'ws-once', payload: 'a', idempotencyKey: 'k1' })).toEqual({ offset: 1 });
    // A key is the channel's, whoever sends it.
    expect(await (await publish({ channel: 'ws-once', payload: 'a', idempotencyKey: 'k1' })).json()).toEqual({ offset: 1 });
    expect(await sender.ok({ type: 'publish', channel: 'ws-once', payload: 'b', idempotencyKey: 'k2' })).toEqual({ offset: 2 });
    await watcher.next((f) => f.type === 'message' && f.offset === 2);
    expect(watcher.messages('ws-once').map((m) => m.payload)).toEqual(['a', 'b']);
    await Promise.all([watcher.close(), sender.close()]);
  });

  it('delivers a repeat once on a channel without history, answering offset null', async () => {
    const watcher = await RawClient.connect(srv.wsUrl);
    await watcher.ok({ type: 'subscribe', channel: 'live:once' });
    expect(await watcher.ok({ type: 'publish', channel: 'live:once', payload: 1, idempotencyKey: 'k' })).toEqual({ offset: null });
    expect(await watcher.ok({ type: 'publish', channel: 'live:once', payload: 1, idempotencyKey: 'k' })).toEqual({ offset: null });
    await watcher.ok({ type: 'publish', channel: 'live:once', payload: 'marker' });
    await watcher.next((f) => f.type === 'message' && f.payload === 'marker');
    expect(watcher.messages('live:once').map((m) => m.payload)).toEqual([1, 'marker']);
    await watcher.close();
  });

  it('stores a key again once its window has passed', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect(await client.ok({ type: 'publish', channel: 'windowed', payload: 1, idempotencyKey: 'k' })).toEqual({ offset: 1 });
    clock += 59_999;
    expect(await client.ok({ type: 'publish', channel: 'windowed', payload: 1, idempotencyKey: 'k' })).toEqual({ offset: 1 });
    clock += 1;
    expect(await client.ok({ type: 'publish', channel: 'windowed', payload: 1, idempotencyKey: 'k' })).toEqual({ offset: 2 });
    await client.close();
  });

  it('refuses a key that is not a string of 1 to 64 characters', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    for (const key of ['', 'k'.repeat(65), 42]) {
      const reply = await client.request({ type: 'publish', channel: 'bad', payload: 1, idempotencyKey: key });
      expect(reply.error.code).toBe('bad_request');
    }
    await client.close();
  });
});

describe('bounds', () => {
  it('forgets the oldest key of a channel past idempotencyKeysPerChannel, and counts the hit', async () => {
    const small = await startServer({ limits: { idempotencyKeysPerChannel: 2 }, namespaces: { '': { history: { size: 100, ttl: 600_000 } } } });
    const client = await RawClient.connect(small.wsUrl);
    for (const key of ['a', 'b', 'c']) await client.ok({ type: 'publish', channel: 'bounded', payload: key, idempotencyKey: key });
    // 'a' was forgotten to make room for 'c': sent again, it is a new publication.
    expect(await client.ok({ type: 'publish', channel: 'bounded', payload: 'a', idempotencyKey: 'a' })).toEqual({ offset: 4 });
    expect(await client.ok({ type: 'publish', channel: 'bounded', payload: 'c', idempotencyKey: 'c' })).toEqual({ offset: 3 });
    const metrics = await (await fetch(`${small.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_limit_hits_total\{limit="idempotencyKeysPerChannel"\} [1-9]/);
    await client.close();
    await small.close();
  });
});
