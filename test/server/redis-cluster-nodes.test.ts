// Two Switchboard nodes configured with `redis: {cluster: [...]}` on a
// three-master Redis Cluster: one channel across nodes, presence and
// join/leave on sharded pub/sub, and the config shapes that name Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/server/config.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { requireRedisServer } from '../helpers/services.js';

it('accepts a URL, a Sentinel set or a Cluster for redis, and names redis when the shape is wrong', () => {
  const node = { host: '10.0.0.7', port: 26379 };
  expect(parseConfig({ redis: 'redis://10.0.0.5:6379' }).redis).toBe('redis://10.0.0.5:6379');
  expect(parseConfig({ redis: { url: 'redis://10.0.0.5:6379', waitForReplicas: 1 } }).redis).toEqual({ url: 'redis://10.0.0.5:6379', waitForReplicas: 1 });
  expect(parseConfig({ redis: { sentinels: [node], name: 'mymaster' } }).redis).toEqual({ sentinels: [node], name: 'mymaster' });
  expect(parseConfig({ redis: { cluster: [node, { ...node, port: 26380 }] } }).redis).toEqual({ cluster: [node, { ...node, port: 26380 }] });
  expect(() => parseConfig({ redis: { sentinels: [node] } })).toThrow(/invalid config: redis/);
  expect(() => parseConfig({ redis: { cluster: [] } })).toThrow(/invalid config: redis/);
  expect(() => parseConfig({ redis: { cluster: [node], waitForReplicas: 1 } })).toThrow(/invalid config: redis/);
});

describe.runIf(requireRedisServer('Redis Cluster', 7))('two nodes on a Redis Cluster', () => {
  const namespaces = { '': { history: { size: 100, ttl: 60_000 } }, room: { presence: true, joinLeave: true } };
  let cluster: RedisCluster;
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    a = await startServer({ redis: { cluster: cluster.nodes }, namespaces });
    b = await startServer({ redis: { cluster: cluster.nodes.slice(0, 1) }, namespaces });
  }, 30_000);
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await cluster?.close();
  });

  it('delivers publications between nodes with shared offsets, on channels spread over every shard', async () => {
    const onA = await RawClient.connect(a.wsUrl);
    const onB = await RawClient.connect(b.wsUrl);
    const channels = Array.from({ length: 12 }, (_, i) => `spread${i}`);
    for (const channel of channels) await onA.ok({ type: 'subscribe', channel });
    for (const channel of channels) {
      expect(await onB.ok({ type: 'publish', channel, payload: `b ${channel}` })).toEqual({ offset: 1 });
      expect(await onA.ok({ type: 'publish', channel, payload: `a ${channel}` })).toEqual({ offset: 2 });
    }
    for (const channel of channels) await onA.next((f) => f.type === 'message' && f.channel === channel && f.offset === 2);
    for (const channel of channels) expect(onA.messages(channel).map((m) => m.payload)).toEqual([`b ${channel}`, `a ${channel}`]);
    await Promise.all([onA.close(), onB.close()]);
  });

  it('shares presence and carries join and leave between nodes', async () => {
    const watcher = await RawClient.connect(a.wsUrl);
    await watcher.ok({ type: 'subscribe', channel: 'room:lobby' });
    const member = await RawClient.connect(b.wsUrl);
    await member.ok({ type: 'subscribe', channel: 'room:lobby' });
    const joined = await watcher.next((f) => f.type === 'join' && f.payload.client === member.welcome.payload.client);
    expect(joined.channel).toBe('room:lobby');
    const here = await watcher.ok({ type: 'presence', channel: 'room:lobby' });
    expect(here.clients.map((c: { client: string }) => c.client).sort()).toEqual([watcher.welcome.payload.client, member.welcome.payload.client].sort());
    await member.close();
    await watcher.next((f) => f.type === 'leave' && f.payload.client === member.welcome.payload.client);
    await watcher.close();
  });
});
