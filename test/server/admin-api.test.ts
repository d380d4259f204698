// What the admin dashboard stands on: its files at /admin (under httpPrefix
// when attached to an app's server, public, with a strict CSP) within their
// size budget; GET /api/channels (the busiest channels, summed over the
// cluster's nodes) and GET /api/disconnects (each node's last ones, with
// their close codes, in a bounded ring), behind the API key.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { createServer } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const KEY = 'admin-api-key';
const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const s = await startServer({ apiKey: KEY, jwtSecret: SECRET, ...options });
  servers.push(s);
  return s;
}

async function client(s: TestServer, user: string, channels: string[] = []): Promise<RawClient> {
  const c = await RawClient.connect(s.wsUrl, { headers: { Authorization: `Bearer ${await sign({ sub: user })}` } });
  clients.push(c);
  for (const channel of channels) await c.ok({ type: 'subscribe', channel });
  return c;
}

async function get(s: TestServer, path: string, key: string | null = KEY): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}${path}`, { headers: key === null ? {} : { Authorization: `apikey ${key}` } });
  return { status: res.status, body: await res.json() };
}

describe('the dashboard files', () => {
  it('stay under 12 KB gzipped, all three together', () => {
    const dir = join(import.meta.dirname, '../../web/admin');
    const all = Buffer.concat(['index.html', 'admin.js', 'admin.css'].map((f) => readFileSync(join(dir, f))));
    expect(gzipSync(all, { level: 9 }).length).toBeLessThan(12 * 1024);
  });

  it('are served at /admin without the key, with a CSP that keeps the page to its own origin', async () => {
    const s = await server();
    const page = await fetch(`${s.url}/admin`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(await page.text()).toContain('src="admin/admin.js"');
    expect((await fetch(`${s.url}/admin/admin.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(`${s.url}/admin/admin.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${s.url}/admin/other`)).status).toBe(404);
  });

  it('send /admin/ to /admin, where the relative paths resolve', async () => {
    const s = await server();
    const slash = await fetch(`${s.url}/admin/?x=1`, { redirect: 'manual' });
    expect(slash.status).toBe(308);
    expect(slash.headers.get('location')).toBe('/admin?x=1');
    expect((await fetch(`${s.url}/admin/`)).url).toBe(`${s.url}/admin`);
  });

  it('are not served without an API key, which the page could not use: /admin says what turns it on, as the API does', async () => {
    const keyless = await startServer();
    servers.push(keyless);
    for (const path of ['/admin', '/admin/']) {
      const res = await fetch(`${keyless.url}${path}`);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual({
        error: { code: 'forbidden', message: 'the admin dashboard is off: no API key is configured (serve --api-key KEY, or apiKey in the config)' },
      });
    }
    expect((await get(keyless, '/api/stats', null)).body.error.message).toBe('the HTTP API is off: no API key is configured');
  });

  it('are served under httpPrefix through handleRequest, next to the app', async () => {
    const switchboard = createServer({ logger: pino({ level: 'silent' }), httpPrefix: '/realtime', apiKey: KEY });
    const app = http.createServer(async (req, res) => {
      if (await switchboard.handleRequest(req, res)) return;
      res.writeHead(404).end('the app');
    });
    await switchboard.attach(app);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    try {
      // The page's relative URLs (admin/admin.js, api/stats) resolve under the prefix.
      expect((await fetch(`${base}/realtime/admin`)).status).toBe(200);
      expect((await fetch(`${base}/realtime/admin/admin.js`)).status).toBe(200);
      expect((await fetch(`${base}/realtime/admin/`, { redirect: 'manual' })).headers.get('location')).toBe('/realtime/admin');
      expect(await (await fetch(`${base}/admin`)).text()).toBe('the app');
    } finally {
      await switchboard.close();
      await new Promise((resolve) => app.close(resolve));
    }
  });
});

describe('GET /api/channels and /api/disconnects', () => {
  it('need the key', async () => {
    const s = await server();
    expect((await get(s, '/api/channels', null)).status).toBe(403);
    expect((await get(s, '/api/disconnects', 'wrong')).status).toBe(403);
  });

  it('list the busiest channels by subscribers, most first, cut at top', async () => {
    const s = await server();
    await client(s, 'a', ['big', 'mid', 'small']);
    await client(s, 'b', ['big', 'mid']);
    await client(s, 'c', ['big']);
    expect((await get(s, '/api/channels')).body).toEqual({
      channels: [
        { channel: 'big', subscribers: 3, local: 3 },
        { channel: 'mid', subscribers: 2, local: 2 },
        { channel: 'small', subscribers: 1, local: 1 },
      ],
    });
    expect((await get(s, '/api/channels?top=1')).body.channels).toEqual([{ channel: 'big', subscribers: 3, local: 3 }]);
    expect((await get(s, '/api/channels?top=0')).status).toBe(400);
    expect((await get(s, '/api/channels?top=21')).status).toBe(400);
  });

  it('list disconnects newest first with code, reason, user and who closed', async () => {
    const s = await server();
    const alice = await client(s, 'alice');
    const bob = await client(s, 'bob');
    bob.ws.close(1000, 'bye');
    await bob.closed;
    const res = await fetch(`${s.url}/api/disconnect`, {
      method: 'POST',
      headers: { Authorization: `apikey ${KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'alice', reason: 'admin said so' }),
    });
    expect(res.status).toBe(200);
    await alice.closed;
    // The server logs a close when the socket is done: wait for it, with a deadline.
    const deadline = Date.now() + 5_000;
    let list: any[] = [];
    while (list.length < 2 && Date.now() < deadline) list = (await get(s, '/api/disconnects')).body.disconnects;
    expect(list.map(({ user, code, reason, by, node }) => ({ user, code, reason, by, node }))).toEqual([
      { user: 'alice', code: 4003, reason: 'admin said so', by: 'server', node: s.server.operations.nodeId },
      { user: 'bob', code: 1000, reason: 'bye', by: 'client', node: s.server.operations.nodeId },
    ]);
    expect((await get(s, '/api/disconnects?limit=1')).body.disconnects).toHaveLength(1);
    expect((await get(s, '/api/disconnects?limit=101')).status).toBe(400);
  });
});

const redis = await requireService('Redis', REDIS_URL);

describe.runIf(redis)('across two nodes on Redis', () => {
  it("adds up each node's subscribers per channel and lists each node's disconnects", async () => {
    const prefix = `admin-${process.pid}-${Date.now()}`;
    const options = { nodeTtl: 1_000 };
    const a = await server({ ...options, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    const b = await server({ ...options, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    await client(a, 'a1', ['shared', 'only-a']);
    await client(b, 'b1', ['shared']);
    await client(b, 'b2', ['shared']);
    const gone = await client(b, 'b3');
    gone.ws.close(1000, 'leaving b');
    await gone.closed;
    // B's figures reach A with B's next lease renewal (every nodeTtl / 4): poll with a deadline.
    const deadline = Date.now() + 5_000;
    let channels: any[] = [];
    let disconnects: any[] = [];
    while (Date.now() < deadline) {
      channels = (await get(a, '/api/channels')).body.channels;
      disconnects = (await get(a, '/api/disconnects')).body.disconnects;
      if (channels[0]?.subscribers === 3 && disconnects.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(channels).toEqual([
      { channel: 'shared', subscribers: 3, local: 1 },
      { channel: 'only-a', subscribers: 1, local: 1 },
    ]);
    expect(disconnects).toMatchObject([{ user: 'b3', code: 1000, reason: 'leaving b', node: b.server.operations.nodeId }]);
  });
});
