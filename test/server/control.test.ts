// Server-side control: the application subscribes, unsubscribes and
// disconnects a user's connections wherever they are, and reads presence and
// history from the library; on one node, and across two nodes on Redis.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { connect } from '../../src/client/node.js';
import type { Subscription } from '../../src/client/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const namespaces = {
  '': { history: { size: 100, ttl: 60_000 } },
  news: { subscribe: 'token' as const, publish: 'server' as const, history: { size: 100, ttl: 60_000 }, presence: true },
};

describe('on one node', () => {
  it('answers not_found for a channel in no namespace, to /api/subscribe and /api/unsubscribe alike', async () => {
    const srv = await startServer({ namespaces: { news: { history: { size: 10, ttl: 60_000 } } }, apiKey: 'key' });
    for (const path of ['/api/subscribe', '/api/unsubscribe']) {
      const res = await fetch(`${srv.url}${path}`, {
        method: 'POST',
        headers: { Authorization: 'apikey key', 'Content-Type': 'application/json' },
        body: JSON.stringify({ user: 'ann', channel: 'elsewhere:x' }),
      });
      expect(res.status, path).toBe(404);
      expect((await res.json()).error.code).toBe('not_found');
    }
    await srv.close();
  });

  it('puts a user’s connections on a channel their own rules would refuse, and takes them off again', async () => {
    const srv = await startServer({ jwtSecret: SECRET, namespaces, apiKey: 'key' });
    const token = await sign({ sub: 'ann' });
    const client = connect(srv.wsUrl, { token, reconnect: false });
    const given = new Promise<Subscription>((resolve) => client.on('subscription', resolve));
    await new Promise((resolve) => client.on('connected', resolve));
    const other = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'bob' })}`);
    // `news` needs a channels claim ann's token lacks: the server decides here.
    expect(await srv.server.subscribe({ user: 'ann' }, 'news:today')).toBe(1);
    const subscription = await given;
    expect(subscription.byServer).toBe(true);
    expect(client.getSubscription('news:today')).toBe(subscription);
    const received: unknown[] = [];
    subscription.onMessage((payload) => received.push(payload));
    await srv.server.publish('news:today', 'extra');
    await expect.poll(() => received).toEqual(['extra']);
    expect(other.messages('news:today')).toEqual([]);
    expect((await srv.server.presence('news:today')).clients.map((c) => c.user)).toEqual(['ann']);
    expect((await srv.server.history('news:today')).publications.map((p) => p.payload)).toEqual(['extra']);

    // Through the HTTP API too.
    const api = (path: string, body: unknown) =>
      fetch(`${srv.url}${path}`, { method: 'POST', headers: { authorization: 'apikey key' }, body: JSON.stringify(body) }).then((r) => r.json());
    const ended = new Promise((resolve) => subscription.on('unsubscribed', resolve));
    expect(await api('/api/unsubscribe', { user: 'ann', channel: 'news:today' })).toEqual({ unsubscribed: 1 });
    await ended;
    expect(client.getSubscription('news:today')).toBeUndefined();
    expect(await api('/api/subscribe', { client: other.welcome.payload.client, channel: 'news:today' })).toEqual({ subscribed: 1 });
    const frame = await other.next((f) => f.type === 'subscribed');
    expect(frame).toMatchObject({ channel: 'news:today', offset: 1, recovered: false });
    expect(await srv.server.subscribe({ user: 'nobody' }, 'news:today')).toBe(0);
    client.close();
    await other.close();
    await srv.close();
  });

  it('returns the existing subscription when the application subscribes again', async () => {
    const srv = await startServer();
    const client = connect(srv.wsUrl, { reconnect: false });
    const seen: string[] = [];
    const first = client.subscribe('twice', (p) => seen.push(`a:${p}`));
    const second = client.subscribe('twice', (p) => seen.push(`b:${p}`));
    expect(second).toBe(first);
    await first.ready;
    await client.publish('twice', 1);
    await expect.poll(() => seen).toEqual(['a:1', 'b:1']);
    client.close();
    await srv.close();
  });
});

const available = await requireService('Redis', REDIS_URL);

describe.runIf(available)('across two nodes on Redis', () => {
  const prefix = `sbcontrol-${randomUUID()}`;
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('a subscribe and a disconnect issued on node B reach a client on node A; presence and history agree on both', async () => {
    const node = async () => {
      const s = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }), jwtSecret: SECRET, namespaces });
      servers.push(s);
      return s;
    };
    const a = await node();
    const b = await node();
    const onA = await RawClient.connect(`${a.wsUrl}?token=${await sign({ sub: 'carol' })}`);
    expect(await b.server.subscribe({ user: 'carol' }, 'news:flash')).toBe(1);
    await onA.next((f) => f.type === 'subscribed' && f.channel === 'news:flash');
    await b.server.publish('news:flash', 'from b');
    await onA.next((f) => f.type === 'message' && f.payload === 'from b');
    for (const s of [a, b]) {
      expect((await s.server.presence('news:flash')).clients.map((c) => c.client)).toEqual([onA.welcome.payload.client]);
      expect((await s.server.history('news:flash')).publications.map((p) => p.payload)).toEqual(['from b']);
    }
    expect(await b.server.disconnect({ user: 'carol' }, 4003, 'account closed')).toBe(1);
    expect(await onA.closed).toEqual({ code: 4003, reason: 'account closed' });
  });
});
