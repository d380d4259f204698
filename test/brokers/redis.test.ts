import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/brokers/redis.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { brokerConformance } from './conformance.js';
import { crashRedisBroker } from '../helpers/crash-redis-broker.js';

// Keys of this run only, so runs and other suites sharing the Redis do not meet.
const prefix = `sbtest-${randomUUID()}`;
let clock = Date.now();

async function deleteKeys(): Promise<void> {
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}

if (await requireService('Redis', REDIS_URL)) {
  afterAll(deleteKeys);
  brokerConformance('redis', {
    make: async () => new RedisBroker({ url: REDIS_URL, prefix, now: () => clock }),
    // Redis keeps history across node restarts; losing it means losing the keys.
    loseHistory: async (broker) => {
      await deleteKeys();
      return broker;
    },
    advance: async (ms) => {
      clock += ms;
    },
    multiNode: true,
    crash: crashRedisBroker,
  });
}
