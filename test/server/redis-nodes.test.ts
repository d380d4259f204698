// Two Switchboard nodes sharing one Redis: clients on either node see one
// channel, with shared offsets, recovery, presence and join/leave.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { connect } from '../../src/client/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { recorder } from '../helpers/recorder.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const available = await requireService('Redis', REDIS_URL);

describe.runIf(available)('two nodes on one Redis', () => {
  const prefix = `sbnodes-${randomUUID()}`;
  const namespaces = {
    '': { history: { size: 100, ttl: 60_000 } },
    room: { presence: true, joinLeave: true },
  };
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }), namespaces });
    b = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }), namespaces });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('delivers a publication made on one node to subscribers on the other, with shared offsets', async () => {
    const onA = await RawClient.connect(a.wsUrl);
    const onB = await RawClient.connect(b.wsUrl);
    await onA.ok({ type: 'subscribe', channel: 'shared' });
    expect(await onB.ok({ type: 'publish', channel: 'shared', payload: 'from b' })).toEqual({ offset: 1 });
    expect(await onA.ok({ type: 'publish', channel: 'shared', payload: 'from a' })).toEqual({ offset: 2 });
    await onA.next((f) => f.type === 'message' && f.offset === 2);
    expect(onA.messages('shared').map((m) => [m.offset, m.payload, m.from.client])).toEqual([
      [1, 'from b', onB.welcome.payload.client],
      [2, 'from a', onA.welcome.payload.client],
    ]);
    expect(onA.welcome.payload.server).not.toBe(onB.welcome.payload.server);
    await Promise.all([onA.close(), onB.close()]);
  });

  it('recovers on one node what was missed after leaving the other', async () => {
    const first = await RawClient.connect(a.wsUrl);
    const { epoch } = await first.ok({ type: 'subscribe', channel: 'moving' });
    for (let i = 1; i <= 3; i++) await first.ok({ type: 'publish', channel: 'moving', payload: i });
    await first.close();
    for (let i = 4; i <= 6; i++) await b.server.publish('moving', i);
    const second = await RawClient.connect(b.wsUrl);
    const reply = await second.ok({ type: 'subscribe', channel: 'moving', since: { epoch, offset: 3 } });
    expect(reply).toMatchObject({ epoch, offset: 6, recovered: true });
    await second.next((f) => f.type === 'message' && f.offset === 6);
    expect(second.messages('moving').map((m) => m.payload)).toEqual([4, 5, 6]);
    await second.close();
  });

  it('shares presence and join/leave events between nodes', async () => {
    const ann = await RawClient.connect(a.wsUrl);
    await ann.ok({ type: 'subscribe', channel: 'room:1' });
    const bob = await RawClient.connect(b.wsUrl);
    await bob.ok({ type: 'subscribe', channel: 'room:1' });
    const join = await ann.next((f) => f.type === 'join' && f.payload.client === bob.welcome.payload.client);
    expect(join.channel).toBe('room:1');
    const listed = (await bob.ok({ type: 'presence', channel: 'room:1' })).clients.map((c: any) => c.client).sort();
    expect(listed).toEqual([ann.welcome.payload.client, bob.welcome.payload.client].sort());
    await bob.close();
    const leave = await ann.next((f) => f.type === 'leave');
    expect(leave.payload.client).toBe(bob.welcome.payload.client);
    await ann.close();
  });

  it('takes a draining node’s clients out of presence before it stops', async () => {
    const c = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }), namespaces });
    const leaving = await RawClient.connect(c.wsUrl);
    await leaving.ok({ type: 'subscribe', channel: 'room:drain' });
    const watcher = await RawClient.connect(b.wsUrl);
    expect((await watcher.ok({ type: 'presence', channel: 'room:drain' })).clients).toHaveLength(1);
    await c.close();
    // Not left to expire with the presence ttl: gone as soon as the drain is done.
    expect((await watcher.ok({ type: 'presence', channel: 'room:drain' })).clients).toEqual([]);
    await watcher.close();
  });

  it('asks clients to reconnect when pub/sub delivery was interrupted, and the client recovers everything', async () => {
    const client = connect(a.wsUrl, { reconnect: { initialDelay: 20, maxDelay: 50 } });
    const app = recorder();
    const subscription = client.subscribe('interrupted', app.handler);
    await subscription.ready;
    const dropped = new Promise<{ code?: number }>((resolve) => client.on('disconnected', resolve));
    await b.server.publish('interrupted', 1);
    // Cut these nodes' pub/sub connections, as a network blip between node and Redis would.
    const admin = new Redis(REDIS_URL);
    const list = (await admin.client('LIST')) as string;
    const ids = list
      .split('\n')
      .filter((line) => line.includes(`name=${prefix}:subscriber `))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    expect(ids).toHaveLength(2);
    for (const id of ids) await admin.client('KILL', 'ID', id);
    await admin.quit();
    expect((await dropped).code).toBe(4000);
    await b.server.publish('interrupted', 2);
    await b.server.publish('interrupted', 3);
    await app.until(3);
    expect(app.seen).toEqual([1, 2, 3]);
    client.close();
  });
});
