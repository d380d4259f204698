// The Redis broker writes the presence entries added in one turn of the event
// loop together, as a reconnect storm's subscribes add them: one transaction
// per channel (one HSET, one ZADD) and one write of the node's index, instead
// of two transactions per entry; each add still answers its own count, and an
// entry removed before the write is not written. On a redis-server of the
// test's own, whose INFO commandstats count only this test's commands.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { RedisBroker } from '../../src/brokers/redis.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { requireRedisServer } from '../helpers/services.js';

const available = requireRedisServer('presence writes', 6);
let redis: RedisProcess | null = null;
let broker: RedisBroker | null = null;
let stats: Redis | null = null;

beforeAll(async () => {
  if (!available) return;
  redis = await startRedis(await freePort());
  broker = new RedisBroker({ url: redis.url, prefix: 'presence-writes' });
  await broker.start(() => {});
  await broker.registerNode({ describe: () => ({ node: 'writer' }), onOrphans: () => {}, ttl: 60_000 });
  stats = new Redis(redis.url);
});

afterAll(async () => {
  await stats?.quit();
  await broker?.close();
  await redis?.kill();
});

/** Calls of each command since the last CONFIG RESETSTAT (commands run by scripts included). */
async function calls(): Promise<Record<string, number>> {
  const text = await stats!.info('commandstats');
  return Object.fromEntries([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

it.runIf(available)('writes a turn’s entries of each channel in one transaction, and indexes them in one write', async () => {
  await stats!.config('RESETSTAT');
  const adds = [
    ...Array.from({ length: 20 }, (_, i) => broker!.addPresence('room-a', { client: `a${i}`, user: null, info: { i } })),
    ...Array.from({ length: 10 }, (_, i) => broker!.addPresence('room-b', { client: `b${i}`, user: null, info: null })),
  ];
  expect(await Promise.all(adds)).toEqual(Array(30).fill(1));
  const counted = await calls();
  expect(counted.hset).toBe(2);
  expect(counted.zadd).toBe(2);
  expect(counted.sadd).toBe(1);
  expect(counted.multi).toBe(3);
  expect((await broker!.presence('room-a')).map((e) => e.client).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`).sort());
  expect(await broker!.presenceCount('room-b')).toEqual({ clients: 10, users: 0 });
});

it.runIf(available)('answers each add of a user its own count, as one at a time would', async () => {
  const counts = await Promise.all([
    broker!.addPresence('room-c', { client: 'ann-1', user: 'ann', info: null }),
    broker!.addPresence('room-c', { client: 'ann-2', user: 'ann', info: null }),
    broker!.addPresence('room-c', { client: 'bob-1', user: 'bob', info: null }),
  ]);
  expect(counts.slice(0, 2).sort()).toEqual([1, 2]);
  expect(counts[2]).toBe(1);
  expect(await broker!.presenceCount('room-c')).toEqual({ clients: 3, users: 2 });
  expect(await broker!.removePresence('room-c', 'ann-1', 'ann')).toBe(1);
});

it.runIf(available)('does not write an entry removed before its write, nor count its user', async () => {
  const added = broker!.addPresence('room-d', { client: 'gone', user: 'cy', info: null });
  const kept = broker!.addPresence('room-d', { client: 'kept', user: null, info: null });
  const removed = broker!.removePresence('room-d', 'gone', 'cy');
  expect(await Promise.all([added, kept, removed])).toEqual([0, 1, 0]);
  expect((await broker!.presence('room-d')).map((e) => e.client)).toEqual(['kept']);
  expect(await broker!.presenceCount('room-d')).toEqual({ clients: 1, users: 0 });
  // A later connection of the same user is its first.
  expect(await broker!.addPresence('room-d', { client: 'cy-again', user: 'cy', info: null })).toBe(1);
});

it.runIf(available)('a later add of the same client in the turn is the entry written', async () => {
  const first = broker!.addPresence('room-e', { client: 'dee', user: null, info: 'first' });
  const second = broker!.addPresence('room-e', { client: 'dee', user: null, info: 'second' });
  expect(await Promise.all([first, second])).toEqual([1, 1]);
  expect(await broker!.presence('room-e')).toEqual([{ client: 'dee', user: null, info: 'second' }]);
});
