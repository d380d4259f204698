import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { brokerConformance } from './conformance.js';

// A clock the suite can move, so ttl eviction is tested without waiting.
let clock = 1_000_000;

brokerConformance('memory', {
  make: async () => new MemoryBroker({ now: () => clock }),
  // A memory broker's history dies with its process: a new one is a restart.
  loseHistory: async (broker) => {
    await broker.close();
    return new MemoryBroker({ now: () => clock });
  },
  advance: async (ms) => {
    clock += ms;
  },
  multiNode: false,
});

describe('memory broker housekeeping', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('forgets an idle channel’s position after positionTtl, but not while this node listens to it', async () => {
    vi.useFakeTimers();
    let now = 0;
    const broker = new MemoryBroker({ now: () => now, positionTtl: 60_000, sweepInterval: 1_000 });
    await broker.start(() => {});
    const policy = { size: 10, ttl: 5_000 };
    await broker.publish('idle', { payload: 1 }, policy);
    await broker.publish('watched', { payload: 1 }, policy);
    await broker.subscribe('watched');
    const idleEpoch = (await broker.history('idle', { limit: 0 }, policy)).epoch;
    const watchedEpoch = (await broker.history('watched', { limit: 0 }, policy)).epoch;

    now += 120_000;
    vi.advanceTimersByTime(1_000);

    const idle = await broker.history('idle', { since: { epoch: idleEpoch, offset: 1 } }, policy);
    expect(idle).toMatchObject({ offset: 0, recovered: false });
    expect(idle.epoch).not.toBe(idleEpoch);
    const watched = await broker.history('watched', { since: { epoch: watchedEpoch, offset: 1 } }, policy);
    expect(watched).toMatchObject({ epoch: watchedEpoch, offset: 1, recovered: true });
    await broker.close();
  });
});

describe('memory broker bounds', () => {
  const policy = { size: 1_000, ttl: 60_000, bytes: 1_000_000 };
  const kilobyte = 'x'.repeat(1_000);

  it('evicts the node’s oldest publications, whatever their channel, past maxBytes', async () => {
    const broker = new MemoryBroker({ maxBytes: 10_000 });
    await broker.start(() => {});
    for (let i = 1; i <= 30; i++) await broker.publish(`ch${i % 3}`, { payload: `${i}:${kilobyte}` }, policy);
    expect(broker.heldBytes).toBeLessThanOrEqual(10_000);
    const held = (await Promise.all(['ch0', 'ch1', 'ch2'].map((c) => broker.history(c, {}, policy))))
      .flatMap((page) => page.publications.map((p) => Number(String(p.payload).split(':')[0])))
      .sort((a, b) => a - b);
    // The newest nine (about 1 KB each) are what is left.
    expect(held).toEqual([22, 23, 24, 25, 26, 27, 28, 29, 30]);
    expect(new Map(broker.limitHits()).get('historyBytes')).toBe(21);
    await broker.close();
  });

  it('holds at most maxChannels channels, forgetting the least recently used one nobody here subscribes to', async () => {
    const broker = new MemoryBroker({ maxChannels: 3 });
    await broker.start(() => {});
    await broker.subscribe('kept');
    await broker.publish('kept', { payload: 1 }, policy);
    const keptEpoch = (await broker.history('kept', {}, policy)).epoch;
    for (let i = 0; i < 100; i++) await broker.publish(`churn${i}`, { payload: i }, policy);
    expect(broker.channelCount).toBe(3);
    const kept = await broker.history('kept', { since: { epoch: keptEpoch, offset: 0 } }, policy);
    expect(kept).toMatchObject({ epoch: keptEpoch, recovered: true });
    expect(new Map(broker.limitHits()).get('maxChannels')).toBeGreaterThanOrEqual(98);
    await broker.close();
  });

  it('refuses a new channel with unavailable when every held channel has subscribers', async () => {
    const broker = new MemoryBroker({ maxChannels: 2 });
    await broker.start(() => {});
    for (const c of ['a', 'b']) {
      await broker.subscribe(c);
      await broker.publish(c, { payload: 1 }, policy);
    }
    await expect(broker.publish('c', { payload: 1 }, policy)).rejects.toMatchObject({ code: 'unavailable' });
    await broker.unsubscribe('a');
    expect(await broker.publish('c', { payload: 1 }, policy)).toBe(1);
    await broker.close();
  });

  it('creates no channel for read-only reads', async () => {
    const broker = new MemoryBroker();
    await broker.start(() => {});
    for (let i = 0; i < 1_000; i++) await broker.history(`never-${i}`, { readOnly: true, limit: 100 }, policy);
    expect(broker.channelCount).toBe(0);
    await broker.close();
  });
});

describe('memory broker idempotency keys', () => {
  const HISTORY = { size: 100, ttl: 600_000 };

  it('forgets the node’s oldest keys past idempotencyBytes, whatever their channel, and counts the hits', async () => {
    // One key on its own channel here counts 438 bytes (KEY_OVERHEAD 150 and CHANNEL_OVERHEAD 240,
    // plus 24 for each one-character string): room for three.
    const broker = new MemoryBroker({ idempotencyBytes: 1_500 });
    await broker.start(() => {});
    for (const channel of ['a', 'b', 'c', 'd']) expect(await broker.publish(channel, { payload: 1 }, HISTORY, { idempotencyKey: 'k', window: 60_000 })).toBe(1);
    // 'a' went first: its key is a new publication; 'd' is still remembered.
    expect(await broker.publish('a', { payload: 1 }, HISTORY, { idempotencyKey: 'k', window: 60_000 })).toBe(2);
    expect(await broker.publish('d', { payload: 1 }, HISTORY, { idempotencyKey: 'k', window: 60_000 })).toBe(1);
    expect(new Map(broker.limitHits()).get('idempotencyBytes')).toBeGreaterThan(0);
    await broker.close();
  });

  it('sweeps keys whose window ended', async () => {
    let now = 0;
    const broker = new MemoryBroker({ now: () => now });
    await broker.start(() => {});
    for (let i = 0; i < 10; i++) await broker.publish('c', { payload: i }, null, { idempotencyKey: `k${i}`, window: 1_000 });
    expect((broker as any).keys.size).toBe(10);
    now = 1_000;
    (broker as any).keys.expire(now);
    expect((broker as any).keys.size).toBe(0);
    expect((broker as any).keys.bytes).toBe(0);
    await broker.close();
  });
});
