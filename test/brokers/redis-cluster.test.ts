// The Redis broker on a three-master Redis Cluster of its own: the
// conformance suite with two brokers as two nodes, and fan-out that stays on
// the channel's shard (sharded pub/sub, Redis >= 7.0).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/brokers/redis.js';
import { startRedisCluster, type RedisCluster } from '../helpers/redis-cluster.js';
import { requireRedisServer } from '../helpers/services.js';
import { brokerConformance, EventLog } from './conformance.js';
import { crashRedisBroker } from '../helpers/crash-redis-broker.js';

const prefix = `sbtest-${randomUUID()}`;
let clock = Date.now();
let cluster: RedisCluster | null = null;

const make = () => new RedisBroker({ target: { cluster: cluster!.nodes }, prefix, now: () => clock });

/** Runs `fn` with a plain connection to each master. */
async function eachNode<T>(fn: (redis: Redis) => Promise<T>): Promise<T[]> {
  const nodes = cluster!.nodes.map(({ host, port }) => new Redis(port, host));
  try {
    return await Promise.all(nodes.map(fn));
  } finally {
    nodes.forEach((node) => node.disconnect());
  }
}

if (requireRedisServer('Redis Cluster', 7)) {
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 30_000);
  afterAll(async () => {
    await cluster?.close();
  });

  brokerConformance('redis cluster', {
    make: async () => make(),
    loseHistory: async (broker) => {
      await eachNode(async (redis) => {
        const keys = await redis.keys(`${prefix}:*`);
        // One DEL per key: a node refuses a DEL whose keys span slots.
        for (const key of keys) await redis.del(key);
      });
      return broker;
    },
    advance: async (ms) => {
      clock += ms;
    },
    multiNode: true,
    crash: crashRedisBroker,
  });

  it('keeps a channel’s fan-out on its shard: nothing crosses the cluster bus', async () => {
    const publishSent = async () =>
      (
        await eachNode(async (redis) => Number(/cluster_stats_messages_publish_sent:(\d+)/.exec((await redis.call('CLUSTER', 'INFO')) as string)?.[1] ?? 0))
      ).reduce((a, b) => a + b, 0);
    const [a, b] = [make(), make()];
    const [logA, logB] = [new EventLog(), new EventLog()];
    await a.start(logA.handler);
    await b.start(logB.handler);
    try {
      const channels = Array.from({ length: 6 }, () => `shard-${randomUUID()}`);
      await Promise.all(channels.map((c) => b.subscribe(c)));
      const before = await publishSent();
      for (const c of channels) {
        await a.publish(c, { payload: `with history ${c}` }, { size: 10, ttl: 60_000 });
        await a.publish(c, { payload: `live ${c}` }, null);
      }
      await logB.until(() => channels.every((c) => logB.payloads(c).length === 2));
      for (const c of channels) expect(logB.payloads(c)).toEqual([`with history ${c}`, `live ${c}`]);
      // A classic PUBLISH is broadcast to every node over the bus; SPUBLISH is not.
      expect(await publishSent()).toBe(before);
      // Each channel's subscription is held by the one master owning its slot.
      const counts = await eachNode(async (redis) => {
        const reply = (await redis.call('PUBSUB', 'SHARDNUMSUB', ...channels.map((c) => `${prefix}:{${c}}:c`))) as Array<string | number>;
        return reply.filter((_, i) => i % 2 === 1).map(Number);
      });
      for (let i = 0; i < channels.length; i++) expect(counts.map((node) => node[i]).sort()).toEqual([0, 0, 1]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  // Runs last: it takes a master down and back, with its data lost.
  it('reports an interruption when a shard’s subscriber connection is lost, and delivers again once it is back', async () => {
    const [a, b] = [make(), make()];
    const [logA, logB] = [new EventLog(), new EventLog()];
    await a.start(logA.handler);
    await b.start(logB.handler);
    try {
      const c = `moving-${randomUUID()}`;
      await b.subscribe(c);
      await a.publish(c, { payload: 'before' }, null);
      await logB.until(() => logB.payloads(c).length === 1);
      // The master holding the channel's slot.
      const owner = await ownerOf(`${prefix}:{${c}}:c`);
      await cluster!.kill(owner);
      await cluster!.restart(owner);
      await logB.until(() => logB.of(c).some((e) => e.kind === 'interrupted'), 20_000);
      await expect
        .poll(
          async () =>
            a.publish(c, { payload: 'after' }, null).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000 },
        )
        .toBe(true);
      await logB.until(() => logB.payloads(c).includes('after'), 10_000);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 40_000);
}

/** The port of the master serving `key`'s slot. */
async function ownerOf(key: string): Promise<number> {
  const [port] = await eachNode(async (redis) => {
    const slot = (await redis.call('CLUSTER', 'KEYSLOT', key)) as number;
    const shards = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    return shards.find(([from, to]) => slot >= from && slot <= to)![2][1];
  });
  return port!;
}
