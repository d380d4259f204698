// The Redis broker through Redis Sentinel (one master, one replica, three
// sentinels of its own): the conformance suite, with every publication with
// history acknowledged only once the replica has it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/brokers/redis.js';
import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { requireRedisServer } from '../helpers/services.js';
import { brokerConformance } from './conformance.js';
import { crashRedisBroker } from '../helpers/crash-redis-broker.js';

const prefix = `sbtest-${randomUUID()}`;
let clock = Date.now();
let set: RedisSentinelSet | null = null;

if (requireRedisServer('Redis Sentinel', 6)) {
  beforeAll(async () => {
    set = await startRedisSentinel();
  }, 30_000);
  afterAll(async () => {
    await set?.close();
  });

  brokerConformance('redis sentinel', {
    make: async () => new RedisBroker({ target: { sentinels: set!.sentinels, name: set!.name }, prefix, now: () => clock }),
    loseHistory: async (broker) => {
      const master = new Redis(await set!.masterPort(), '127.0.0.1');
      const keys = await master.keys(`${prefix}:*`);
      if (keys.length > 0) await master.del(...keys);
      master.disconnect();
      return broker;
    },
    advance: async (ms) => {
      clock += ms;
    },
    multiNode: true,
    crash: crashRedisBroker,
  });
}
