// The backend proxy over real HTTP (docs/backend.md): every call, every
// answer, every way a backend fails. The client sees the documented error,
// the server stays up, and nothing is left behind (no session, no call in flight).
import { pino } from 'pino';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/protocol/codes.js';
import { DisconnectError, parseConfig, type SwitchboardServer } from '../../src/server/index.js';
import { connect } from '../../src/client/node.js';
import { msgpack } from '../../src/client/msgpack.js';
import { Backend, proxyCalls } from '../helpers/backend.js';
import { upgradeRequest } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

const WEBHOOK_SECRET = 'whsec_BK0uydnzDFWrjc0lxQhoSwCMJoyk84VL';
const NAMESPACES = {
  '': { subscribe: 'anyone', publish: 'anyone' },
  chat: { subscribe: 'proxy', publish: 'proxy', history: { size: 10, ttl: 60_000 }, presence: true },
  open: { subscribe: 'anyone', publish: 'anyone' },
} as const;

let backend: Backend | null = null;
let srv: TestServer | null = null;
let logged: string[] = [];
afterEach(async () => {
  await srv?.close();
  await backend?.close();
  srv = null;
  backend = null;
});

async function start(
  proxy: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
  setup?: (server: SwitchboardServer) => void,
): Promise<[Backend, TestServer]> {
  backend = await Backend.start();
  logged = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logged.push(line) });
  srv = await startServer({ logger, jwtSecret: SECRET, namespaces: NAMESPACES, proxy: backend.proxyConfig(proxy), ...options });
  setup?.(srv.server);
  return [backend, srv];
}

/** Connected through the connect call as `user`. */
async function connectAs(s: TestServer, b: Backend, user: string, extra: Record<string, unknown> = {}): Promise<RawClient> {
  b.answer('connect', { result: { user, ...extra } });
  return RawClient.connect(s.wsUrl);
}

/** Calls by kind and result, as /metrics counts them. */
async function inFlight(server: SwitchboardServer): Promise<number> {
  const metric = (await server.metricsSnapshot()).find((m) => m.name === 'switchboard_proxy_calls_in_flight');
  return metric?.values[0]?.value ?? -1;
}

/** The client is gone everywhere: no session, no proxy call in flight, and close() is quick. */
async function nothingStranded(s: TestServer): Promise<void> {
  await expect.poll(() => s.server.operations.stats().connections).toBe(0);
  expect(await inFlight(s.server)).toBe(0);
  const started = Date.now();
  await s.close();
  srv = null;
  expect(Date.now() - started).toBeLessThan(1_000);
}

describe('config', () => {
  it('accepts the contract example and refuses what is wrong, naming the key', () => {
    const proxy = {
      connect: { url: 'http://127.0.0.1:9000/sb/connect' },
      refresh: { url: 'http://127.0.0.1:9000/sb/refresh' },
      subscribe: { url: 'http://127.0.0.1:9000/sb/subscribe' },
      publish: { url: 'http://127.0.0.1:9000/sb/publish' },
      rpc: { url: 'http://127.0.0.1:9000/sb/rpc' },
      timeout: 3000,
      concurrency: 256,
      headers: ['Cookie', 'authorization'],
      secret: WEBHOOK_SECRET,
    };
    const config = parseConfig({ proxy, namespaces: { chat: { subscribe: 'proxy', publish: 'proxy' } } });
    expect(config.proxy?.headers).toEqual(['cookie', 'authorization']);
    expect(config.proxy?.maxResponseBytes).toBe(1_048_576);
    expect(parseConfig({ proxy: {} }).proxy).toMatchObject({ timeout: 3000, concurrency: 256, headers: [], secret: null });
    expect(() => parseConfig({ namespaces: { chat: { subscribe: 'proxy' } } })).toThrow('namespaces.chat.subscribe: "proxy" needs proxy.subscribe.url');
    expect(() => parseConfig({ proxy: {}, namespaces: { chat: { publish: 'proxy' } } })).toThrow('namespaces.chat.publish: "proxy" needs proxy.publish.url');
    expect(() => parseConfig({ proxy: { connect: { url: 'ftp://x/y' } } })).toThrow('proxy.connect.url');
    expect(() => parseConfig({ proxy: { secret: 'not-a-secret' } })).toThrow('proxy.secret');
    expect(() => parseConfig({ proxy: { timeout: 0 } })).toThrow('proxy.timeout');
    expect(() => parseConfig({ proxy: { retries: 3 } })).toThrow('proxy.retries: unknown key');
  });
});

describe('connect', () => {
  it('asks the backend before the upgrade with the listed headers, signed; answers user, info and server-side subscriptions', async () => {
    const [b, s] = await start({ headers: ['Cookie', 'X-Team'], secret: WEBHOOK_SECRET });
    b.answer('connect', { result: { user: 'ann', info: { name: 'Ann' }, channels: ['open:news'] } });
    const client = await RawClient.connect(s.wsUrl, { headers: { cookie: 'session=abc', 'x-team': 'blue', 'x-other': 'no' } });
    expect(client.welcome.payload.user).toBe('ann');
    const subscribed = await client.next((f) => f.type === 'subscribed');
    expect(subscribed.channel).toBe('open:news');

    const [call] = b.callsTo('connect');
    expect(call!.body).toEqual({
      client: client.welcome.payload.client,
      user: null,
      transport: 'websocket',
      protocol: 'json',
      headers: { cookie: 'session=abc', 'x-team': 'blue' },
    });
    expect(call!.headers['content-type']).toBe('application/json');
    // The Standard Webhooks library verifies what the server signed (and refuses a changed body).
    expect(new Webhook(WEBHOOK_SECRET).verify(call!.raw, call!.headers as Record<string, string>)).toEqual(call!.body);
    expect(() => new Webhook(WEBHOOK_SECRET).verify(call!.raw.replace('ann', 'bob') + ' ', call!.headers as Record<string, string>)).toThrow();

    // The subscription is a real one: a publication arrives.
    await s.server.publish('open:news', 'hello');
    expect((await client.next((f) => f.type === 'message')).payload).toBe('hello');
    // The listed headers go with every later call too.
    await client.ok({ type: 'subscribe', channel: 'chat:room' });
    expect(b.callsTo('subscribe')[0]!.body).toMatchObject({ user: 'ann', headers: { cookie: 'session=abc', 'x-team': 'blue' }, channel: 'chat:room' });
    await client.close();
    await nothingStranded(s);
  });

  it('makes no call for a valid JWT, and asks for an invalid one', async () => {
    const [b, s] = await start();
    const client = await RawClient.connect(`${s.wsUrl}?token=${await sign({ sub: 'tok' })}`);
    expect(client.welcome.payload.user).toBe('tok');
    expect(b.callsTo('connect')).toHaveLength(0);
    b.answer('connect', { result: { user: 'from-backend' } });
    const other = await RawClient.connect(`${s.wsUrl}?token=${await sign({ sub: 'tok' }, { secret: 'wrong-secret-entirely' })}`);
    expect(other.welcome.payload.user).toBe('from-backend');
    expect(b.callsTo('connect')).toHaveLength(1);
    await Promise.all([client.close(), other.close()]);
  });

  it("refuses with the error code's status; unknown codes are forbidden; a failing backend is 503; a disconnect closes with its code", async () => {
    const [b, s] = await start();
    b.answer('connect', { error: { code: 'forbidden', message: 'banned' } });
    expect(await upgradeRequest(s.url)).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: 'banned' } } });
    b.answer('connect', { error: { code: 'unauthorized', message: 'log in' } });
    expect(await upgradeRequest(s.url)).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    b.answer('connect', { error: { code: 'no_such_code', message: 'nope' } });
    expect(await upgradeRequest(s.url)).toMatchObject({ status: 403, body: { error: { code: 'forbidden', message: 'nope' } } });
    b.answer('connect', (_call, res) => res.writeHead(500).end('oops'));
    expect(await upgradeRequest(s.url)).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    b.answer('connect', { disconnect: { code: 4003, reason: 'go away' } });
    const client = RawClient.connect(s.wsUrl);
    await expect(client).rejects.toThrow('closed with 4003 before welcome');
    await nothingStranded(s);
  });
});

describe('DisconnectError from an in-process hook', () => {
  it('closes with its code from authenticate (after the upgrade, so a browser sees it) and from publish', async () => {
    const [, s] = await start({}, {}, (server) => {
      server.authenticate((req) => {
        if (req.headers['x-ban'] === 'yes') throw new DisconnectError(4003, 'banned here');
      });
      server.onPublish(() => {
        throw new DisconnectError(4010, 'no more');
      });
    });
    await expect(RawClient.connect(s.wsUrl, { headers: { 'x-ban': 'yes' } })).rejects.toThrow('closed with 4003 before welcome');
    const client = await RawClient.connect(`${s.wsUrl}?token=${await sign({ sub: 'ann' })}`);
    client.send({ type: 'publish', id: 1, channel: 'open:x', payload: 1 });
    expect(await client.closed).toEqual({ code: 4010, reason: 'no more' });
    await nothingStranded(s);
  });
});

describe('refresh', () => {
  it('extends at expiresAt, then closes with 4001 when the backend says expired', async () => {
    const [b, s] = await start();
    // Whole seconds: at least one second ahead.
    const soon = () => Math.floor(Date.now() / 1000) + 2;
    const client = await connectAs(s, b, 'ann', { expiresAt: soon() });
    b.answer('refresh', (_call, res) => res.end(JSON.stringify({ result: { expiresAt: soon() } })));
    const first = await b.nextCall('refresh', 0);
    expect(first.body).toEqual({ client: client.welcome.payload.client, user: 'ann', transport: 'websocket', protocol: 'json', headers: {} });
    b.answer('refresh', { result: { expired: true } });
    // Extended: a second refresh is asked at the new expiry, and the connection lived until it.
    await b.nextCall('refresh', 1);
    expect((await client.closed).code).toBe(4001);
    await nothingStranded(s);
  });

  it('keeps the connection while the backend is down, and a disconnect answer closes with its code', async () => {
    const [b, s] = await start();
    const client = await connectAs(s, b, 'ann', { expiresAt: Math.floor(Date.now() / 1000) + 1 });
    b.answer('refresh', (_call, res) => res.writeHead(503).end());
    await b.nextCall('refresh', 0);
    expect(await client.alive()).toBe(true);
    b.answer('refresh', { disconnect: { code: 4009, reason: 'plan ended' } });
    // Asked again after the retry delay (5 s).
    await b.nextCall('refresh', 1, 8_000);
    expect(await client.closed).toEqual({ code: 4009, reason: 'plan ended' });
    await nothingStranded(s);
  }, 15_000);
});

describe('subscribe and publish in "proxy" namespaces', () => {
  it('asks only for "proxy" namespaces, with since; the info shows in presence; errors are the reply', async () => {
    const [b, s] = await start();
    const client = await connectAs(s, b, 'ann');
    await client.ok({ type: 'subscribe', channel: 'open:x' });
    expect(b.callsTo('subscribe')).toHaveLength(0);

    b.answer('subscribe', { result: { info: { role: 'mod' } } });
    await client.ok({ type: 'subscribe', channel: 'chat:1', since: { epoch: 'e', offset: 3 } });
    expect(b.callsTo('subscribe')[0]!.body).toMatchObject({ channel: 'chat:1', since: { epoch: 'e', offset: 3 }, user: 'ann' });
    expect((await client.ok({ type: 'presence', channel: 'chat:1' })).clients[0].info).toEqual({ role: 'mod' });

    b.answer('subscribe', { error: { code: 'not_found', message: 'no such room' } });
    expect((await client.request({ type: 'subscribe', channel: 'chat:2' })).error).toEqual({ code: 'not_found', message: 'no such room' });
    b.answer('subscribe', { error: { code: 'made_up' } });
    expect((await client.request({ type: 'subscribe', channel: 'chat:3' })).error.code).toBe('forbidden');
    // Without the backend's consent nobody reads a "proxy" namespace's history or presence.
    expect((await client.request({ type: 'history', channel: 'chat:3' })).error.code).toBe('forbidden');
    await client.close();
    await nothingStranded(s);
  });

  it('publish: allows as sent, or stores and delivers the payload the backend gives', async () => {
    const [b, s] = await start();
    const client = await connectAs(s, b, 'ann');
    await client.ok({ type: 'subscribe', channel: 'chat:1' });
    await client.ok({ type: 'publish', channel: 'chat:1', payload: { text: 'as sent' } });
    b.answer('publish', ({ body }, res) => res.end(JSON.stringify({ result: { payload: { text: body.payload.text.toUpperCase(), by: body.user } } })));
    await client.ok({ type: 'publish', channel: 'chat:1', payload: { text: 'shout' } });
    expect(b.callsTo('publish')[1]!.body).toMatchObject({ channel: 'chat:1', payload: { text: 'shout' }, user: 'ann' });
    await expect.poll(() => client.messages('chat:1').map((m) => m.payload)).toEqual([{ text: 'as sent' }, { text: 'SHOUT', by: 'ann' }]);
    const history = await client.ok({ type: 'history', channel: 'chat:1' });
    expect(history.publications.map((p: any) => p.payload)).toEqual([{ text: 'as sent' }, { text: 'SHOUT', by: 'ann' }]);
    await client.close();
    await nothingStranded(s);
  });

  it('a disconnect answer closes the connection with its code and reason', async () => {
    const [b, s] = await start();
    const client = await connectAs(s, b, 'ann');
    b.answer('publish', { disconnect: { code: 4003, reason: 'spam' } });
    client.send({ type: 'publish', id: 1, channel: 'chat:1', payload: 'buy now' });
    expect(await client.closed).toEqual({ code: 4003, reason: 'spam' });
    expect((await proxyCalls(s.server))['publish:disconnect']).toBe(1);
    await nothingStranded(s);
  });

  it('in-process hooks decide first: a refusal there makes no call', async () => {
    const [b, s] = await start({}, {}, (server) =>
      server.onSubscribe((_client, channel) => {
        if (channel === 'chat:private') throw new SwitchboardError('forbidden', 'not here');
      }),
    );
    const client = await connectAs(s, b, 'ann');
    expect((await client.request({ type: 'subscribe', channel: 'chat:private' })).error.message).toBe('not here');
    expect(b.callsTo('subscribe')).toHaveLength(0);
    await client.ok({ type: 'subscribe', channel: 'chat:public' });
    expect(b.callsTo('subscribe')).toHaveLength(1);
    await client.close();
  });
});

describe('rpc', () => {
  it('serves methods with no in-process handler; those with one never reach the backend', async () => {
    const [b, s] = await start({}, {}, (server) => server.rpc('local', () => 'from node'));
    const client = await connectAs(s, b, 'ann', { info: { plan: 'pro' } });
    expect(await client.ok({ type: 'rpc', method: 'local', payload: null })).toBe('from node');
    expect(b.callsTo('rpc')).toHaveLength(0);
    b.answer('rpc', ({ body }, res) => res.end(JSON.stringify({ result: { payload: { sum: body.payload.a + body.payload.b } } })));
    expect(await client.ok({ type: 'rpc', method: 'add', payload: { a: 2, b: 3 } })).toEqual({ sum: 5 });
    expect(b.callsTo('rpc')[0]!.body).toEqual({
      client: client.welcome.payload.client,
      user: 'ann',
      transport: 'websocket',
      protocol: 'json',
      headers: {},
      method: 'add',
      payload: { a: 2, b: 3 },
    });
    const latency = (await s.server.metricsSnapshot()).find((m) => m.name === 'switchboard_proxy_call_duration_seconds');
    const count = latency?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count') && v.labels.kind === 'rpc');
    expect(count?.value).toBe(1);
    b.answer('rpc', { error: { code: 'not_found', message: 'no method add2' } });
    expect((await client.request({ type: 'rpc', method: 'add2', payload: null })).error).toEqual({ code: 'not_found', message: 'no method add2' });
    await client.close();
  });
});

describe('binary payloads', () => {
  it('are refused bad_request before any call: the calls are JSON', async () => {
    const [b, s] = await start();
    const client = connect(`${s.wsUrl}?token=${await sign({ sub: 'ann' })}`, { codec: msgpack });
    await expect(client.rpc('m', { blob: new Uint8Array([1, 2, 3]) })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await client.rpc('m', { text: 'fine' })).toBeNull();
    expect(b.callsTo('rpc')).toHaveLength(1);
    client.close();
    await nothingStranded(s);
  });
});

describe('a backend that fails costs one request unavailable; the server stays up', () => {
  const failures: Array<[string, (b: Backend) => void, Record<string, unknown>, string]> = [
    ['down (connection refused)', () => {}, { rpc: 'refused' }, 'unreachable'],
    ['slow past the timeout', (b) => b.hold('rpc'), { timeout: 200 }, 'timeout'],
    ['answering 500', (b) => b.answer('rpc', (_call, res) => res.writeHead(500).end('{"result":{}}')), {}, 'bad_status'],
    ['answering garbage', (b) => b.answer('rpc', (_call, res) => res.end('{"result": nope')), {}, 'bad_answer'],
    ['answering neither result, error nor disconnect', (b) => b.answer('rpc', { ok: true }), {}, 'bad_answer'],
    ['answering a disconnect code outside 4000-4999', (b) => b.answer('rpc', { disconnect: { code: 1000 } }), {}, 'bad_answer'],
    ['answering over maxResponseBytes', (b) => b.answer('rpc', { result: { payload: 'x'.repeat(2_000) } }), { maxResponseBytes: 1_000 }, 'too_large'],
  ];
  for (const [name, arrange, proxy, outcome] of failures) {
    it(name, async () => {
      // A port nobody listens on: connection refused.
      const refused = proxy.rpc === 'refused' ? { rpc: { url: `http://127.0.0.1:${await freePort()}/rpc` } } : {};
      const [b, s] = await start({ ...proxy, ...refused });
      const client = await connectAs(s, b, 'ann');
      arrange(b);
      const reply = await client.request({ type: 'rpc', method: 'm', payload: null });
      expect(reply.error.code).toBe('unavailable');
      expect(await client.alive()).toBe(true);
      expect((await proxyCalls(s.server))[`rpc:${outcome}`]).toBe(1);
      // Logged with the client id, never the body or a header.
      const line = logged.find((l) => l.includes('proxy call failed'))!;
      expect(JSON.parse(line)).toMatchObject({ client: client.welcome.payload.client, kind: 'rpc', outcome });
      await client.close();
      await nothingStranded(s);
    });
  }

  it('at concurrency calls in flight, the next request is answered unavailable at once', async () => {
    const [b, s] = await start({ concurrency: 1 });
    const client = await connectAs(s, b, 'ann');
    b.hold('rpc');
    client.send({ type: 'rpc', id: 'slow', method: 'm', payload: null });
    await b.nextCall('rpc', 0);
    // The first call is still held by the backend: the second is refused without a call.
    const second = await client.request({ type: 'rpc', method: 'm', payload: null });
    expect(second.error.code).toBe('unavailable');
    expect(b.callsTo('rpc')).toHaveLength(1);
    expect(client.frames.some((f) => f.id === 'slow')).toBe(false);
    expect((await proxyCalls(s.server))['rpc:overloaded']).toBe(1);
    b.release({ result: { payload: 'late' } });
    expect((await client.next((f) => f.id === 'slow')).payload).toBe('late');
    await client.close();
    await nothingStranded(s);
  });

  it('a client gone while its call is held leaves nothing behind', async () => {
    const [b, s] = await start({ timeout: 300 });
    const client = await connectAs(s, b, 'ann');
    b.hold('subscribe');
    client.send({ type: 'subscribe', id: 1, channel: 'chat:1' });
    await b.nextCall('subscribe', 0);
    await client.close();
    await expect.poll(() => inFlight(s.server)).toBe(0);
    expect((await proxyCalls(s.server))['subscribe:timeout']).toBe(1);
    await nothingStranded(s);
  });
});
