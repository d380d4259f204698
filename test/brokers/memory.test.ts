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
