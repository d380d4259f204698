// The HTTP API (PROTOCOL.md section 7): API key, publish, broadcast,
// disconnect, presence, history, stats, health, readiness and metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;
const KEY = 'api-key-for-tests';

beforeAll(async () => {
  srv = await startServer({
    apiKey: KEY,
    jwtSecret: SECRET,
    namespaces: {
      '': { history: { size: 10, ttl: 60_000 } },
      feed: { publish: 'server', history: { size: 10, ttl: 60_000 } },
      chat: { presence: true },
    },
  });
});
afterAll(() => srv.close());

function api(path: string, body?: unknown, key: string | null = KEY) {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  if (key !== null) headers.Authorization = `apikey ${key}`;
  return fetch(`${srv.url}${path}`, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
}

describe('authentication', () => {
  it('answers 403 without the key or with a wrong one', async () => {
    for (const key of [null, 'wrong']) {
      const res = await api('/api/stats', undefined, key);
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe('forbidden');
    }
  });

  it('answers 403 to everything when no key is configured', async () => {
    const keyless = await startServer();
    const res = await fetch(`${keyless.url}/api/stats`, { headers: { Authorization: 'apikey anything' } });
    expect(res.status).toBe(403);
    await keyless.close();
  });
});

describe('publishing', () => {
  it('publishes on a server-only namespace, without from', async () => {
    const sub = await RawClient.connect(srv.wsUrl);
    await sub.ok({ type: 'subscribe', channel: 'feed:news' });
    const res = await api('/api/publish', { channel: 'feed:news', payload: { headline: 'hi' } });
    expect(await res.json()).toEqual({ offset: 1 });
    const message = await sub.next((f) => f.type === 'message');
    expect(message).toEqual({ type: 'message', channel: 'feed:news', offset: 1, payload: { headline: 'hi' } });
    await sub.close();
  });

  it('broadcasts to several channels', async () => {
    const res = await api('/api/broadcast', { channels: ['a', 'b', 'chat:x'], payload: 1 });
    expect(await res.json()).toEqual({ offsets: { a: 1, b: 1, 'chat:x': null } });
  });

  it('refuses bad bodies with bad_request, unknown namespaces with not_found', async () => {
    const bad = await api('/api/publish', { channel: 'no spaces allowed', payload: 1 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('bad_request');
    const missing = await api('/api/publish', { channel: 'a' });
    expect(missing.status).toBe(400);
    const nowhere = await api('/api/publish', { channel: 'nowhere:a', payload: 1 });
    expect(nowhere.status).toBe(404);
    const deep = await api('/api/publish', JSON.parse(`{"channel":"a","payload":${'['.repeat(65)}${']'.repeat(65)}}`));
    expect(deep.status).toBe(400);
    const notJson = await fetch(`${srv.url}/api/publish`, { method: 'POST', headers: { Authorization: `apikey ${KEY}` }, body: '{' });
    expect(notJson.status).toBe(400);
  });
});

describe('disconnect, presence, history, stats', () => {
  it('disconnects every connection of a user with 4003 and the reason', async () => {
    const token = await sign({ sub: 'mallory' });
    const [a, b] = await Promise.all([1, 2].map(() => RawClient.connect(`${srv.wsUrl}?token=${token}`)));
    const bystander = await RawClient.connect(srv.wsUrl);
    const res = await api('/api/disconnect', { user: 'mallory', reason: 'banned' });
    expect(await res.json()).toEqual({ disconnected: 2 });
    expect(await a!.closed).toEqual({ code: 4003, reason: 'banned' });
    expect((await b!.closed).code).toBe(4003);
    expect(await bystander.alive()).toBe(true);
    await bystander.close();
  });

  it('lists presence and history', async () => {
    const token = await sign({ sub: 'pat', info: { name: 'Pat' } });
    const client = await RawClient.connect(`${srv.wsUrl}?token=${token}`);
    await client.ok({ type: 'subscribe', channel: 'chat:room' });
    const presence = await (await api('/api/presence?channel=chat:room')).json();
    expect(presence).toEqual({ clients: [{ client: client.welcome.payload.client, user: 'pat', info: { name: 'Pat' } }] });
    await api('/api/publish', { channel: 'log', payload: 'one' });
    await api('/api/publish', { channel: 'log', payload: 'two' });
    const history = await (await api('/api/history?channel=log&limit=1')).json();
    expect(history).toEqual({ epoch: expect.any(String), offset: 2, publications: [{ offset: 2, payload: 'two' }] });
    await client.close();
  });

  it('reports stats per node and for the cluster, and lists the nodes', async () => {
    const { nodes } = await (await api('/api/nodes')).json();
    expect(nodes).toEqual([
      expect.objectContaining({ node: expect.any(String), address: expect.any(String), version: expect.any(String), startedAt: expect.any(String) }),
    ]);
    const stats = await (await api('/api/stats')).json();
    expect(stats.nodes).toHaveLength(1);
    expect(stats.totals).toMatchObject({ nodes: 1, connections: stats.nodes[0].connections, subscriptions: expect.any(Number) });
    expect(stats.nodes[0]).toMatchObject({
      broker: 'memory',
      connections: expect.any(Number),
      messages: { received: expect.any(Number), publications: expect.any(Number), delivered: expect.any(Number) },
      rates: { received: expect.any(Number), publications: expect.any(Number), delivered: expect.any(Number) },
    });
  });
});

describe('health, readiness, metrics', () => {
  it('serves them without auth', async () => {
    expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
    const client = await RawClient.connect(srv.wsUrl);
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    const open = Number(/^switchboard_connections\{subprotocol="switchboard\.v1\.json",transport="websocket"\} (\d+)$/m.exec(metrics)?.[1]);
    expect(open).toBeGreaterThanOrEqual(1);
    expect(metrics).toContain('switchboard_frames_received_total');
    await client.close();
  });

  it('answers 404 with a JSON error elsewhere', async () => {
    const res = await fetch(`${srv.url}/nothing-here`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('not_found');
  });
});
