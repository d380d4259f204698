// Cheaper presence (docs/protocol.md, "Presence per user and counts"): join
// and leave per user (first connection in, last connection out), and a
// count-only presence that answers numbers without the list.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const namespaces = {
  team: { presence: true, joinLeave: 'user' as const },
  crowd: { presence: 'count' as const },
  '': {},
};

async function user(srv: TestServer, name: string | null): Promise<RawClient> {
  return RawClient.connect(name === null ? srv.wsUrl : `${srv.wsUrl}?token=${await sign({ sub: name })}`);
}

/** Two tabs of one user: one join when the first arrives, one leave when the last goes. */
async function twoTabs(first: TestServer, second: TestServer, channel: string): Promise<void> {
  const bob = await user(first, 'bob');
  await bob.ok({ type: 'subscribe', channel });
  const tab1 = await user(first, 'ann');
  await tab1.ok({ type: 'subscribe', channel });
  const join = await bob.next((f) => f.type === 'join' && f.payload.user === 'ann');
  expect(join.payload).toMatchObject({ user: 'ann', client: tab1.welcome.payload.client });
  const tab2 = await user(second, 'ann');
  await tab2.ok({ type: 'subscribe', channel });
  // Both tabs are listed, but the second was no join: a marker published after it arrives first.
  expect((await bob.ok({ type: 'presence', channel })).clients).toHaveLength(3);
  await tab1.close();
  await bob.ok({ type: 'publish', channel, payload: 'marker' });
  await bob.next((f) => f.type === 'message' && f.payload === 'marker');
  const annEvents = () => bob.frames.filter((f) => (f.type === 'join' || f.type === 'leave') && f.payload.user === 'ann');
  expect(annEvents()).toHaveLength(1);
  // The last tab goes: now ann leaves.
  await tab2.close();
  const leave = await bob.next((f) => f.type === 'leave' && f.payload.user === 'ann');
  expect(leave.payload).toMatchObject({ user: 'ann', client: tab2.welcome.payload.client });
  expect(annEvents().map((f) => f.type)).toEqual(['join', 'leave']);
  await bob.close();
}

async function counts(first: TestServer, second: TestServer, channel: string): Promise<void> {
  const clients = [await user(first, 'ann'), await user(second, 'ann'), await user(first, 'bob'), await user(second, null)];
  for (const client of clients) await client.ok({ type: 'subscribe', channel });
  expect(await clients[0]!.ok({ type: 'presence', channel })).toEqual({ clients: [], count: { clients: 4, users: 2 } });
  await clients[2]!.close();
  expect(await clients[0]!.ok({ type: 'presence', channel })).toEqual({ clients: [], count: { clients: 3, users: 1 } });
  await Promise.all(clients.map((c) => c.close()));
}

describe('one node', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ jwtSecret: SECRET, namespaces });
  });
  afterAll(() => srv.close());

  it('sends join and leave per user with two tabs of one user', () => twoTabs(srv, srv, 'team:one'));
  it('answers counts of clients and users without the list', () => counts(srv, srv, 'crowd:one'));
});

const redis = await requireService('Redis', REDIS_URL);
describe.runIf(redis)('two nodes on Redis', () => {
  const prefix = `sbpresence-${randomUUID()}`;
  let a: TestServer;
  let b: TestServer;
  beforeAll(async () => {
    a = await startServer({ jwtSecret: SECRET, namespaces, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    b = await startServer({ jwtSecret: SECRET, namespaces, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    const admin = new Redis(REDIS_URL);
    const keys = await admin.keys(`${prefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('sends join and leave per user with the two tabs on different nodes', () => twoTabs(a, b, 'team:two'));
  it('answers counts across nodes', () => counts(a, b, 'crowd:two'));
});
