// HTTP streaming (docs/protocol.md, "HTTP streaming"), over real HTTP: every
// request type works with replies down the stream; the session is found by
// its secret only, with POSTs origin-checked; a session ends with its stream;
// a POST that reaches another node (Redis broker) is forwarded to the
// session's node.
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { StreamClient } from '../helpers/http-stream.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const history = { size: 100, ttl: 60_000 };

describe('an HTTP-stream session', () => {
  let srv: TestServer;
  const closes: number[] = [];
  beforeAll(async () => {
    srv = await startServer({
      jwtSecret: SECRET,
      namespaces: { '': { history }, chat: { subscribe: 'authenticated', history, presence: true, joinLeave: true } },
    });
    srv.server.rpc('add', ({ a, b }: { a: number; b: number }) => a + b);
    srv.server.onDisconnect((_client, code) => void closes.push(code));
  });
  afterAll(() => srv.close());

  it('streams the welcome, then answers every request type down the stream', async () => {
    const token = await sign({ sub: 'ann' });
    const client = await StreamClient.open(srv.url, { Authorization: `Bearer ${token}` });
    expect(client.secret).toMatch(/^[0-9a-f-]{36}\.[A-Za-z0-9_-]{32}$/);
    const welcome = await client.next((f) => f.type === 'welcome');
    expect(welcome.payload.user).toBe('ann');

    const subscribed = await client.ok({ type: 'subscribe', channel: 'chat:room' });
    expect(subscribed).toMatchObject({ channel: 'chat:room', offset: 0, recovered: false });
    await client.next((f) => f.type === 'join');
    expect(await client.ok({ type: 'publish', channel: 'chat:room', payload: 'hi' })).toEqual({ offset: 1 });
    await client.next((f) => f.type === 'message' && f.payload === 'hi');
    expect(await client.ok({ type: 'rpc', method: 'add', payload: { a: 2, b: 3 } })).toBe(5);
    expect((await client.ok({ type: 'presence', channel: 'chat:room' })).clients).toEqual([expect.objectContaining({ user: 'ann' })]);
    expect((await client.ok({ type: 'history', channel: 'chat:room' })).publications).toEqual([expect.objectContaining({ offset: 1, payload: 'hi' })]);
    expect(await client.ok({ type: 'refresh', token: await sign({ sub: 'ann' }, { expiresIn: 7200 }) })).toEqual({ expiresAt: expect.any(Number) });
    await client.post([{ type: 'ping', id: 'p' }]);
    await client.next((f) => f.type === 'pong' && f.id === 'p');
    // Recovery: a second subscription from the position after the first publication.
    await client.ok({ type: 'unsubscribe', channel: 'chat:room' });
    await srv.server.publish('chat:room', 'missed');
    expect(await client.ok({ type: 'subscribe', channel: 'chat:room', since: { epoch: subscribed.epoch, offset: 1 } })).toMatchObject({ recovered: true });
    await client.next((f) => f.type === 'message' && f.payload === 'missed');
    // A bad frame is a bad_request, as on a WebSocket.
    await client.post([{ type: 'nonsense', id: 'x' }]);
    expect((await client.next((f) => f.id === 'x')).error.code).toBe('bad_request');
    client.cut();
  });

  it('takes several requests in one POST, one per line', async () => {
    const client = await StreamClient.open(srv.url);
    expect(
      await client.post([
        { type: 'ping', id: 1 },
        { type: 'ping', id: 2 },
      ]),
    ).toBe(204);
    await client.next((f) => f.type === 'pong' && f.id === 2);
    expect(client.frames.filter((f) => f.type === 'pong').map((f) => f.id)).toEqual([1, 2]);
    client.cut();
  });

  it('refuses a POST without a session, with an unknown one, from a bad origin, or too large', async () => {
    const client = await StreamClient.open(srv.url);
    const answer = async (init: RequestInit) => {
      const res = await fetch(`${srv.url}/stream`, { method: 'POST', ...init });
      return [res.status, ((await res.json()) as any).error.code];
    };
    expect(await answer({ body: '{"type":"ping"}' })).toEqual([400, 'bad_request']);
    // The client id is not the secret, and neither is a guess on this node.
    const welcome = await client.next((f) => f.type === 'welcome');
    expect(await answer({ headers: { 'X-Switchboard-Session': welcome.payload.client }, body: '{"type":"ping"}' })).toEqual([404, 'not_found']);
    expect(await answer({ headers: { 'X-Switchboard-Session': `${welcome.payload.server}.guess` }, body: '{"type":"ping"}' })).toEqual([404, 'not_found']);
    expect(await answer({ headers: { 'X-Switchboard-Session': client.secret, Origin: 'https://evil.example' }, body: '{"type":"ping"}' })).toEqual([
      403,
      'forbidden_origin',
    ]);
    expect(await answer({ headers: { 'X-Switchboard-Session': client.secret }, body: 'x'.repeat(1_048_577) })).toEqual([413, 'payload_too_large']);
    client.cut();
  });

  it('refuses to open a stream as a handshake: bad token, bad origin', async () => {
    await expect(StreamClient.open(srv.url, { Authorization: 'Bearer nope' })).rejects.toThrow(/^401 .*unauthorized/);
    await expect(StreamClient.open(srv.url, { Origin: 'https://evil.example' })).rejects.toThrow(/^403 .*forbidden_origin/);
  });

  it('ends the session with its stream: its secret is then unknown, and cannot be reattached', async () => {
    const client = await StreamClient.open(srv.url);
    await client.next((f) => f.type === 'welcome');
    const closed = closes.length;
    client.cut();
    await expect.poll(() => closes.length).toBe(closed + 1);
    expect(closes.at(-1)).toBe(1006);
    expect(await client.post([{ type: 'ping' }])).toBe(404);
    await expect(client.attach()).rejects.toThrow(/^400 .*bad_request/);
  });

  it('counts its connections under transport="http-stream"', async () => {
    const client = await StreamClient.open(srv.url);
    await client.next((f) => f.type === 'welcome');
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    // Streams of earlier tests may still be closing: at least this one.
    expect(Number(/^switchboard_connections\{subprotocol="switchboard\.v1\.json",transport="http-stream"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
    client.cut();
  });
});

const redis = await requireService('Redis', REDIS_URL);

describe.runIf(redis)('HTTP streaming across two nodes without affinity', () => {
  const prefix = `stream-test-${randomUUID()}`;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    const options = { namespaces: { '': { history } } };
    a = await startServer({ ...options, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    b = await startServer({ ...options, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length > 0) await r.del(...keys);
    await r.quit();
  });

  it('forwards a POST that reached the other node to the session’s node', async () => {
    const client = await StreamClient.open(a.url);
    expect(await client.post([{ type: 'subscribe', id: 'first', channel: 'x' }], { base: b.url })).toBe(202);
    expect((await client.next((f) => f.type === 'reply' && f.id === 'first')).ok).toBe(true);
    expect(await client.ok({ type: 'publish', channel: 'x', payload: 'via b' }, b.url)).toEqual({ offset: 1 });
    await client.next((f) => f.type === 'message' && f.payload === 'via b');
    // A WebSocket client on b sees it too: one cluster.
    const ws = await RawClient.connect(b.wsUrl);
    await ws.ok({ type: 'subscribe', channel: 'x' });
    await client.ok({ type: 'publish', channel: 'x', payload: 'again' }, b.url);
    await ws.next((f) => f.type === 'message' && f.payload === 'again');
    ws.ws.close();
    client.cut();
  });
});

describe('an HTTP-stream client that stops reading', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ limits: { outboundBufferBytes: 256 * 1024 } });
  });
  afterAll(() => srv.close());

  it('is closed with 4008 once its queue passes outboundBufferBytes, as a WebSocket', async () => {
    const closes: number[] = [];
    srv.server.onDisconnect((_client, code) => void closes.push(code));
    // A socket that opens the stream, subscribes through a POST, and never reads again.
    const socket = net.connect(Number(new URL(srv.url).port), '127.0.0.1');
    socket.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const secret = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString('latin1');
        const found = /"session":"([^"]+)"/.exec(text);
        if (found) resolve(found[1]!);
      });
    });
    socket.pause();
    await fetch(`${srv.url}/stream`, { method: 'POST', headers: { 'X-Switchboard-Session': secret }, body: '{"type":"subscribe","channel":"flood"}' });
    const chunk = 'x'.repeat(60_000);
    await expect
      .poll(
        async () => {
          await srv.server.publish('flood', chunk);
          return closes;
        },
        { timeout: 20_000, interval: 1 },
      )
      .toEqual([4008]);
    socket.destroy();
  });
});
