// The SDK falls back by itself (docs/client.md, "Transports"): through a proxy
// that strips `Upgrade` its WebSocket cannot open, so it connects over HTTP
// streaming, says so (property and event), and everything works there:
// subscribe, publish, RPC, presence, history, recovery after a cut. On a
// later reconnect it tries the WebSocket first again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { UpgradeStrippingProxy } from '../helpers/upgrade-stripping-proxy.js';

let srv: TestServer;
let proxy: UpgradeStrippingProxy;

beforeAll(async () => {
  srv = await startServer({ namespaces: { '': { history: { size: 100, ttl: 60_000 }, presence: true } } });
  srv.server.rpc('echo', (payload: unknown) => payload);
  // A session cookie, as an app's own login sets it: Node's `headers` option sends it.
  srv.server.authenticate((req) => (req.headers.cookie === 'session=ann' ? { user: 'ann' } : undefined));
  proxy = await UpgradeStrippingProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await proxy.close();
  await srv.close();
});

const reconnect = { initialDelay: 10, maxDelay: 50 };

it('falls back to HTTP streaming when the WebSocket cannot open, and everything works there', async () => {
  proxy.upgrades = false;
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect });
  const transports: string[] = [];
  client.on('transport', (name) => transports.push(name));
  const got: unknown[] = [];
  const sub = client.subscribe('fallback', (payload) => got.push(payload));
  await sub.ready;
  expect(client.transport).toBe('http-stream');
  expect(transports).toEqual(['http-stream']);
  expect(await client.publish('fallback', 1)).toEqual({ offset: 1 });
  await expect.poll(() => got).toEqual([1]);
  expect(await client.rpc('echo', { a: 1 })).toEqual({ a: 1 });
  expect((await client.presence('fallback')).clients).toHaveLength(1);
  expect((await client.history('fallback')).publications.map((p) => p.payload)).toEqual([1]);

  // The stream is cut: the client reconnects (HTTP streaming again) and recovers what it missed.
  let resets = 0;
  sub.on('reset', () => resets++);
  const disconnected = new Promise((resolve) => client.on('disconnected', resolve));
  proxy.cut();
  await disconnected;
  await srv.server.publish('fallback', 2);
  await expect.poll(() => got).toEqual([1, 2]);
  expect(resets).toBe(0);
  expect(transports).toEqual(['http-stream', 'http-stream']);
  client.close();
});

it('goes back to the WebSocket on a later reconnect, once it can open', async () => {
  proxy.upgrades = false;
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect });
  const transports: string[] = [];
  client.on('transport', (name) => transports.push(name));
  await new Promise((resolve) => client.on('connected', resolve));
  expect(client.transport).toBe('http-stream');
  proxy.upgrades = true;
  proxy.cut();
  await expect.poll(() => transports).toEqual(['http-stream', 'websocket']);
  expect(client.transport).toBe('websocket');
  client.close();
});

it('keeps to the transports it is given', async () => {
  proxy.upgrades = false;
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect, transports: ['websocket'] });
  const states: string[] = [];
  client.on('state', (change) => states.push(change.state));
  await expect.poll(() => states.filter((s) => s === 'disconnected').length).toBeGreaterThanOrEqual(2);
  expect(client.transport).toBeNull();
  client.close();
});

it('sends Node’s headers option on the request that opens the stream', async () => {
  proxy.upgrades = false;
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect, headers: () => ({ cookie: 'session=ann' }) });
  const welcome = await new Promise<{ user: string | null }>((resolve) => client.on('connected', resolve));
  expect([client.transport, welcome.user]).toEqual(['http-stream', 'ann']);
  client.close();
});

it('once a WebSocket has worked, a node that is down is waited for on the WebSocket: no fall back to HTTP streaming', async () => {
  const own = await startServer();
  const { port } = new URL(own.url);
  const client = connect(own.wsUrl, { reconnect });
  await new Promise((resolve) => client.on('connected', resolve));
  expect(client.transport).toBe('websocket');
  await own.close();
  // Something else answers on the node's port while it is down: it sees what the client tries.
  const tried: string[] = [];
  const stand = http.createServer((req, res) => {
    tried.push(`${req.method} ${req.url}`);
    res.writeHead(503).end();
  });
  stand.on('upgrade', (req, socket) => {
    tried.push(`upgrade ${req.url}`);
    socket.destroy();
  });
  await new Promise<void>((resolve) => stand.listen(Number(port), '127.0.0.1', resolve));
  expect((stand.address() as AddressInfo).port).toBe(Number(port));
  // The drain's hint comes first (alone: a second or two), then the backoff's short delays.
  await expect.poll(() => tried.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(3);
  client.close();
  await new Promise((resolve) => stand.close(resolve));
  expect(tried.every((line) => line === 'upgrade /ws')).toBe(true);
});
