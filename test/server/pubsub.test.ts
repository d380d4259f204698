// Subscribe, publish, unsubscribe, ping and RPC between raw clients.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SwitchboardError } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;

beforeAll(async () => {
  srv = await startServer({
    jwtSecret: SECRET,
    namespaces: {
      '': { subscribe: 'anyone', publish: 'anyone', history: { size: 100, ttl: 60_000 } },
      live: { subscribe: 'anyone', publish: 'anyone' },
      chat: { subscribe: 'authenticated', publish: 'subscribers' },
      secret: { subscribe: 'token', publish: 'subscribers' },
      notifications: { subscribe: 'authenticated', publish: 'server' },
    },
  });
  srv.server
    .rpc('add', ({ a, b }: { a: number; b: number }) => ({ sum: a + b }), z.object({ a: z.number(), b: z.number() }))
    .rpc('whoami', (_payload, ctx) => ({ user: ctx.user, client: ctx.client }))
    .rpc('refuse', () => {
      throw new SwitchboardError('forbidden', 'not today');
    })
    .rpc('crash', () => {
      throw new Error('boom with secrets inside');
    });
});
afterAll(() => srv.close());

describe('welcome', () => {
  it('is the first frame, with the heartbeat and limits', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect(client.frames[0]).toEqual({
      type: 'welcome',
      payload: {
        client: expect.any(String),
        user: null,
        server: expect.any(String),
        heartbeat: { interval: 25000, timeout: 10000 },
        limits: { maxPayload: 1048576, rate: { messagesPerSecond: 100, burst: 200 }, idempotencyWindow: 300_000 },
      },
    });
    await client.close();
  });

  it('gives every connection its own client id', async () => {
    const [a, b] = await Promise.all([RawClient.connect(srv.wsUrl), RawClient.connect(srv.wsUrl)]);
    expect(a.welcome.payload.client).not.toBe(b.welcome.payload.client);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('publish and subscribe', () => {
  it('delivers a publication to a subscriber, with offset and from', async () => {
    const sub = await RawClient.connect(srv.wsUrl);
    const pub = await RawClient.connect(srv.wsUrl);
    const reply = await sub.ok({ type: 'subscribe', channel: 'updates' });
    expect(reply).toEqual({ channel: 'updates', epoch: expect.any(String), offset: 0, recovered: false });
    expect(await pub.ok({ type: 'publish', channel: 'updates', payload: { n: 1 } })).toEqual({ offset: 1 });
    const message = await sub.next((f) => f.type === 'message');
    expect(message).toEqual({
      type: 'message',
      channel: 'updates',
      offset: 1,
      payload: { n: 1 },
      from: { client: pub.welcome.payload.client, user: null },
    });
    await Promise.all([sub.close(), pub.close()]);
  });

  it('accepts the seed-style frame without an id', async () => {
    const sub = await RawClient.connect(srv.wsUrl);
    sub.send({ type: 'subscribe', channel: 'seed' });
    sub.send({ type: 'publish', channel: 'seed', payload: 'hello' });
    const message = await sub.next((f) => f.type === 'message');
    expect(message.payload).toBe('hello');
    // Fire-and-forget success sends nothing back.
    expect(sub.frames.filter((f) => f.type === 'reply')).toHaveLength(0);
    await sub.close();
  });

  it('gives null offsets and epochs on channels without history', async () => {
    const sub = await RawClient.connect(srv.wsUrl);
    expect(await sub.ok({ type: 'subscribe', channel: 'live:x' })).toEqual({
      channel: 'live:x',
      epoch: null,
      offset: null,
      recovered: false,
    });
    expect(await sub.ok({ type: 'publish', channel: 'live:x', payload: 1 })).toEqual({ offset: null });
    const message = await sub.next((f) => f.type === 'message');
    expect(message).not.toHaveProperty('offset');
    await sub.close();
  });

  it('stops delivering after unsubscribe', async () => {
    const sub = await RawClient.connect(srv.wsUrl);
    await sub.ok({ type: 'subscribe', channel: 'leaving' });
    expect(await sub.ok({ type: 'unsubscribe', channel: 'leaving' })).toEqual({});
    await sub.ok({ type: 'subscribe', channel: 'marker' });
    const pub = await RawClient.connect(srv.wsUrl);
    await pub.ok({ type: 'publish', channel: 'leaving', payload: 'missed' });
    await pub.ok({ type: 'publish', channel: 'marker', payload: 'seen' });
    await sub.next((f) => f.type === 'message' && f.channel === 'marker');
    expect(sub.messages('leaving')).toHaveLength(0);
    await Promise.all([sub.close(), pub.close()]);
  });

  it('delivers in publish order to every subscriber', async () => {
    const subs = await Promise.all([1, 2, 3].map(() => RawClient.connect(srv.wsUrl)));
    await Promise.all(subs.map((s) => s.ok({ type: 'subscribe', channel: 'ordered' })));
    const pub = await RawClient.connect(srv.wsUrl);
    for (let i = 0; i < 200; i++) pub.send({ type: 'publish', channel: 'ordered', payload: i });
    for (const sub of subs) {
      await sub.next((f) => f.type === 'message' && f.payload === 199);
      expect(sub.messages('ordered').map((m) => m.payload)).toEqual([...Array(200).keys()]);
      expect(sub.messages('ordered').map((m) => m.offset)).toEqual([...Array(200).keys()].map((i) => i + 1));
    }
    await Promise.all([...subs, pub].map((c) => c.close()));
  });

  it('answers ping with pong, with and without id', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect(await client.request({ type: 'ping' })).toEqual({ type: 'pong', id: 1 });
    client.send({ type: 'ping' });
    expect(await client.next((f) => f.type === 'pong' && f.id === undefined)).toEqual({ type: 'pong' });
    await client.close();
  });
});

describe('namespace rules', () => {
  it('authenticated namespaces refuse anonymous subscribers', async () => {
    const anon = await RawClient.connect(srv.wsUrl);
    expect((await anon.request({ type: 'subscribe', channel: 'chat:lobby' })).error.code).toBe('forbidden');
    const user = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'bob' })}`);
    await user.ok({ type: 'subscribe', channel: 'chat:lobby' });
    await Promise.all([anon.close(), user.close()]);
  });

  it('token namespaces follow the channels claim globs', async () => {
    const token = await sign({ sub: 'carol', channels: ['secret:team-*'] });
    const client = await RawClient.connect(`${srv.wsUrl}?token=${token}`);
    await client.ok({ type: 'subscribe', channel: 'secret:team-red' });
    expect((await client.request({ type: 'subscribe', channel: 'secret:board' })).error.code).toBe('forbidden');
    await client.close();
  });

  it('#user channels admit only their user', async () => {
    const owner = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: '42' })}`);
    const other = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: '43' })}`);
    await owner.ok({ type: 'subscribe', channel: 'notifications:#42' });
    expect((await other.request({ type: 'subscribe', channel: 'notifications:#42' })).error.code).toBe('forbidden');
    // In the default namespace too, which anyone may subscribe to.
    const anon = await RawClient.connect(srv.wsUrl);
    expect((await anon.request({ type: 'subscribe', channel: 'inbox#42' })).error.code).toBe('forbidden');
    await srv.server.publish('notifications:#42', { text: 'for 42 only' });
    expect((await owner.next((f) => f.type === 'message')).payload).toEqual({ text: 'for 42 only' });
    await Promise.all([owner.close(), other.close(), anon.close()]);
  });
});

describe('rpc', () => {
  it('returns what the handler returns', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect(await client.ok({ type: 'rpc', method: 'add', payload: { a: 2, b: 3 } })).toEqual({ sum: 5 });
    const me = await client.ok({ type: 'rpc', method: 'whoami', payload: null });
    expect(me).toEqual({ user: null, client: client.welcome.payload.client });
    await client.close();
  });

  it('validates the payload against the schema before the handler runs', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.request({ type: 'rpc', method: 'add', payload: { a: 'two', b: 3 } });
    expect(reply.error).toEqual({ code: 'bad_request', message: expect.stringMatching(/^invalid payload for add: a: /) });
    await client.close();
  });

  it('answers not_found for an unknown method, the thrown code for a SwitchboardError, internal otherwise', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect((await client.request({ type: 'rpc', method: 'nope', payload: 1 })).error.code).toBe('not_found');
    expect((await client.request({ type: 'rpc', method: 'refuse', payload: 1 })).error).toEqual({ code: 'forbidden', message: 'not today' });
    const crash = await client.request({ type: 'rpc', method: 'crash', payload: 1 });
    expect(crash.error).toEqual({ code: 'internal', message: 'internal error' });
    expect(await client.alive()).toBe(true);
    await client.close();
  });
});
