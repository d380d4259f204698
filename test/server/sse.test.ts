// SSE for a plain EventSource (docs/protocol.md, "SSE for a plain
// EventSource"), over real HTTP read with eventsource-parser: the stream's
// headers and events, resume from Last-Event-ID with nothing missing and
// nothing twice, reset where it cannot, every bad input named by the contract
// as its HTTP status and JSON error, and the bounds a WebSocket has.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelListHash, encodeCursor } from '../../src/server/sse/cursor.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SseStream, type SseRefusal } from '../helpers/sse.js';
import { SECRET, sign } from '../helpers/tokens.js';

const history = { size: 100, ttl: 60_000 };

describe('an SSE stream', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      jwtSecret: SECRET,
      heartbeat: { interval: 200, timeout: 1_000 },
      namespaces: {
        '': { history },
        live: {},
        chat: { subscribe: 'authenticated', history, joinLeave: true },
        secret: { subscribe: 'token' },
      },
    });
  });
  afterAll(() => srv.close());

  const url = (query: string) => `${srv.url}/sse?${query}`;

  it('answers text/event-stream, unbuffered and untransformed, starting with the welcome', async () => {
    const stream = await SseStream.accepted(url('channel=a'));
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.res.headers['x-accel-buffering']).toBe('no');
    expect(stream.res.headers['cache-control']).toBe('no-cache, no-transform');
    await stream.until(() => stream.events.length > 0);
    const [welcome] = stream.events;
    expect(welcome!.event).toBe('welcome');
    expect(JSON.parse(welcome!.data)).toMatchObject({ client: expect.any(String), user: null, heartbeat: { interval: 200 } });
    expect(welcome!.id).toMatch(/^1:/);
    stream.close();
  });

  it('sends each publication as the message frame, with a cursor for every channel in its id', async () => {
    const stream = await SseStream.accepted(url('channel=m1&channel=m2&channel=live:m3'));
    await stream.until(() => stream.events.length > 0);
    await srv.server.publish('m1', { n: 1 });
    await srv.server.publish('live:m3', { n: 2 });
    await srv.server.publish('m2', { n: 3 });
    await stream.until(() => stream.of('message').length === 3);
    expect(stream.of('message')).toEqual([
      { type: 'message', channel: 'm1', offset: 1, payload: { n: 1 } },
      { type: 'message', channel: 'live:m3', payload: { n: 2 } },
      { type: 'message', channel: 'm2', offset: 1, payload: { n: 3 } },
    ]);
    const ids = stream.events.filter((e) => e.event === 'message').map((e) => e.id);
    // A channel without history moves no cursor: its message carries no id.
    expect(ids[1]).toBeUndefined();
    expect(ids[2]).toMatch(new RegExp(`^1:${channelListHash(['m1', 'm2', 'live:m3'])}:1@[^,]+,1@[^,]+,-$`));
    stream.close();
  });

  it('resumes every channel from Last-Event-ID with nothing missing and nothing twice', async () => {
    const first = await SseStream.accepted(url('channel=r1&channel=r2'));
    await first.until(() => first.events.length > 0);
    for (let i = 1; i <= 3; i++) {
      await srv.server.publish('r1', i);
      await srv.server.publish('r2', i);
    }
    await first.until(() => first.of('message').length === 6);
    // Stop after r1's third and r2's second publication, as a dropped network would.
    const cut = first.events.filter((e) => e.event === 'message')[4]!.id!;
    first.close();
    for (let i = 4; i <= 5; i++) {
      await srv.server.publish('r1', i);
      await srv.server.publish('r2', i);
    }
    const second = await SseStream.accepted(url('channel=r1&channel=r2'), { 'Last-Event-ID': cut });
    await second.until(() => second.of('message').length === 5);
    const got = second.of('message').map((m) => `${m.channel}:${m.payload}`);
    expect(got.sort()).toEqual(['r1:4', 'r1:5', 'r2:3', 'r2:4', 'r2:5']);
    expect(second.of('reset')).toEqual([]);
    // The query parameter does the same for a page that keeps the id itself.
    const third = await SseStream.accepted(url(`channel=r1&channel=r2&lastEventId=${encodeURIComponent(second.lastEventId)}`));
    await srv.server.publish('r2', 6);
    await third.until(() => third.of('message').length === 1);
    expect(third.of('message')[0]).toMatchObject({ channel: 'r2', payload: 6 });
    second.close();
    third.close();
  });

  it('sends reset for a channel it cannot recover, and resumes the others', async () => {
    const channels = ['x1', 'x2', 'live:x3'];
    await srv.server.publish('x2', 'kept');
    const page = await srv.server.history('x2', { limit: 0 });
    const cursor = encodeCursor(channelListHash(channels), [{ epoch: 'gone', offset: 1 }, { epoch: page.epoch!, offset: 0 }, null]);
    const stream = await SseStream.accepted(url('channel=x1&channel=x2&channel=live:x3'), { 'Last-Event-ID': cursor });
    await stream.until(() => stream.of('message').length === 1);
    expect(stream.events[0]!.event).toBe('welcome');
    expect(stream.of('reset')).toEqual([{ channel: 'x1' }, { channel: 'live:x3' }]);
    expect(stream.of('message')).toEqual([{ type: 'message', channel: 'x2', offset: 1, payload: 'kept' }]);
    stream.close();
  });

  it('sends join and leave events', async () => {
    const token = await sign({ sub: 'ann' });
    const stream = await SseStream.accepted(url('channel=chat:room'), { Authorization: `Bearer ${token}` });
    await stream.until(() => stream.of('join').length === 1);
    const bob = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'bob' })}`);
    await bob.ok({ type: 'subscribe', channel: 'chat:room' });
    await stream.until(() => stream.of('join').length === 2);
    bob.ws.close();
    await stream.until(() => stream.of('leave').length === 1);
    expect(stream.of('leave')[0]).toMatchObject({ type: 'leave', channel: 'chat:room', payload: { user: 'bob' } });
    stream.close();
  });

  it('authenticates as a handshake does: Authorization, token in the query, cookie', async () => {
    const token = await sign({ sub: 'carol' });
    for (const [query, headers] of [
      ['', { Authorization: `Bearer ${token}` }],
      [`&token=${token}`, {}],
      ['', { Cookie: `switchboard_token=${token}` }],
    ] as const) {
      const stream = await SseStream.accepted(url(`channel=chat:auth${query}`), headers);
      await stream.until(() => stream.events.length > 0);
      expect(JSON.parse(stream.events[0]!.data).user).toBe('carol');
      stream.close();
    }
  });

  describe('refuses with the status and JSON error of each bad input', () => {
    const refused = async (query: string, headers: Record<string, string> = {}) => {
      const answer = (await SseStream.open(url(query), headers)) as SseRefusal;
      expect(answer).not.toBeInstanceOf(SseStream);
      return [answer.status, answer.body.error.code, answer.body.error.message];
    };

    it('more channels than limits.sseChannels (32)', async () => {
      const query = Array.from({ length: 33 }, (_, i) => `channel=c${i}`).join('&');
      expect(await refused(query)).toEqual([400, 'bad_request', expect.stringContaining('at most 32 channels')]);
    });

    it('no channel, or one named twice', async () => {
      expect(await refused('')).toEqual([400, 'bad_request', expect.stringContaining('at least one channel')]);
      expect(await refused('channel=a&channel=a')).toEqual([400, 'bad_request', expect.stringContaining('named twice')]);
    });

    it('a bad cursor: garbage, another stream’s, a bad offset', async () => {
      const other = encodeCursor(channelListHash(['b']), [{ epoch: 'e', offset: 1 }]);
      const badOffset = `1:${channelListHash(['a'])}:!!@e`;
      for (const cursor of ['garbage', other, badOffset, `1:${channelListHash(['a'])}:1@e,2@e`]) {
        expect(await refused('channel=a', { 'Last-Event-ID': cursor })).toEqual([400, 'bad_request', expect.stringContaining('bad cursor')]);
      }
      expect(await refused('channel=a&lastEventId=nope')).toEqual([400, 'bad_request', expect.stringContaining('bad cursor')]);
    });

    it('no token for a channel that needs one, and a bad token', async () => {
      expect(await refused('channel=chat:x')).toEqual([403, 'forbidden', expect.any(String)]);
      expect(await refused('channel=chat:x', { Authorization: 'Bearer not.a.token' })).toEqual([401, 'unauthorized', expect.any(String)]);
    });

    it('an origin that is not allowed', async () => {
      expect(await refused('channel=a', { Origin: 'https://evil.example' })).toEqual([403, 'forbidden_origin', expect.any(String)]);
    });

    it('a channel the client may not subscribe to, or that does not exist', async () => {
      const token = await sign({ sub: 'dan', channels: ['secret:ok'] });
      expect(await refused('channel=a&channel=secret:no', { Authorization: `Bearer ${token}` })).toEqual([403, 'forbidden', expect.any(String)]);
      expect(await refused('channel=nowhere:a')).toEqual([404, 'not_found', expect.any(String)]);
      expect(await refused('channel=bad%20name')).toEqual([400, 'bad_request', expect.any(String)]);
      const stream = await SseStream.accepted(url('channel=secret:ok'), { Authorization: `Bearer ${token}` });
      stream.close();
    });

    it('a method other than GET', async () => {
      const res = await fetch(url('channel=a'), { method: 'POST' });
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('bad_request');
    });
  });

  it('sends a comment at the heartbeat interval, which keeps a reading client alive', async () => {
    const stream = await SseStream.accepted(url('channel=hb'));
    // interval + timeout is 1,200 ms: seven comments take longer, and the stream is still open.
    await stream.until(() => stream.comments >= 7);
    expect(stream.ended).toBe(false);
    stream.close();
  });

  it('counts its connections under transport="sse"', async () => {
    const stream = await SseStream.accepted(url('channel=metric'));
    await stream.until(() => stream.events.length > 0);
    const text = await (await fetch(`${srv.url}/metrics`)).text();
    expect(text).toMatch(/^switchboard_connections\{subprotocol="switchboard\.v1\.json",transport="sse"\} 1$/m);
    stream.close();
  });
});

describe('an SSE client that stops reading', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ limits: { outboundBufferBytes: 256 * 1024 } });
  });
  afterAll(() => srv.close());

  it('closes a client that stops reading with 4008, as a WebSocket', async () => {
    const closes: number[] = [];
    srv.server.onDisconnect((_client, code) => void closes.push(code));
    // A socket that sends the request and never reads: the server's queue grows until the bound.
    const { port } = new URL(srv.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    socket.pause();
    socket.write('GET /sse?channel=flood HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const chunk = 'x'.repeat(60_000);
    await expect
      .poll(
        async () => {
          await srv.server.publish('flood', chunk);
          return closes.filter((c) => c === 4008).length;
        },
        { timeout: 20_000, interval: 1 },
      )
      .toBe(1);
    socket.destroy();
  });
});

describe('an SSE stream on a server that requires a token', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ jwtSecret: SECRET, namespaces: { '': { subscribe: 'authenticated', publish: 'authenticated' } } });
  });
  afterAll(() => srv.close());

  it('is refused with 401 without one', async () => {
    const answer = (await SseStream.open(`${srv.url}/sse?channel=a`)) as SseRefusal;
    expect([answer.status, answer.body.error.code]).toEqual([401, 'unauthorized']);
  });
});

describe('an SSE stream when its server drains', () => {
  it('gets a close event with 1012 and a retry hint, then the end of the stream', async () => {
    const srv = await startServer();
    const stream = await SseStream.accepted(`${srv.url}/sse?channel=a`);
    await stream.until(() => stream.events.length > 0);
    const closing = srv.close();
    await stream.until(() => stream.of('close').length === 1);
    expect(stream.of('close')[0]).toEqual({ code: 1012, reason: expect.stringMatching(/^\{"retryIn":\d+\}$/) });
    await stream.until(() => stream.ended);
    await closing;
  });
});
