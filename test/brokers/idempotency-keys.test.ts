// The byte bound of remembered idempotency keys counts what they cost the
// heap (issue 19, item 8: the 64 MiB default held ~170-180 MiB). Accounting
// only, deterministic: the heap itself is measured by
// bench/idempotency-memory.mjs, whose numbers (docs/benchmarks.md) are
// written here as constants.
import { describe, expect, it } from 'vitest';
import { IdempotencyKeys, stringBytes } from '../../src/brokers/idempotency-keys.js';

/**
 * Measured (Node 20, x64), SDK keys (16 random characters, "." and a base-36
 * counter) on one channel: 200,000 of them grow the heap by 159 bytes each;
 * held at a 16 MiB and at a 64 MiB bound, the heap per key held goes up and
 * down between 162 and 215 bytes (Map rehashing, queue compaction).
 */
const MEASURED_SDK_KEY = 159;
const MEASURED_AT_BOUND = { lowest: 162, highest: 215 };

const sdkKey = (i: number) => `Qx7fK2pLm9ZtR4vB.${i.toString(36)}`;

describe('idempotency key accounting', () => {
  it('counts a key held at the bound as what it costs the heap there', () => {
    const bound = 1_048_576;
    let hits = 0;
    const keys = new IdempotencyKeys({ perChannel: 1_000_000, bytes: bound }, () => hits++);
    for (let i = 0; hits === 0; i++) keys.remember('room:lobby', sdkKey(i), i, 300_000, 0);
    const perKey = bound / keys.size;
    expect(perKey).toBeGreaterThanOrEqual(MEASURED_AT_BOUND.lowest);
    expect(perKey).toBeLessThanOrEqual(MEASURED_AT_BOUND.highest);
  });

  it('counts a key by V8 string size: Latin-1 one byte a character, UTF-16 two, a header, padded to 8', () => {
    expect(stringBytes('')).toBe(16);
    expect(stringBytes('a')).toBe(24);
    expect(stringBytes('é'.repeat(8))).toBe(24);
    expect(stringBytes('é'.repeat(9))).toBe(32);
    expect(stringBytes('键'.repeat(4))).toBe(24);
    expect(stringBytes(`${'a'.repeat(63)}键`)).toBe(16 + 128);
  });

  it('keeps counting keys forgotten early while the queue still holds them, and lets them go with it', () => {
    let now = 0;
    const keys = new IdempotencyKeys({ perChannel: 1, bytes: Number.MAX_SAFE_INTEGER }, () => {});
    // A long-lived key at the head of the queue, then 1,000 keys on a channel that holds one:
    // each replaces the one before in its channel's Map, but the queue holds them all behind the first.
    keys.remember('slow', 'first', 1, 10_000, now);
    const one = keys.bytes;
    for (let i = 0; i < 1_000; i++) keys.remember('busy', sdkKey(i), i, 1_000, now);
    expect(keys.size).toBe(2);
    expect(keys.bytes).toBeGreaterThan(one + 1_000 * MEASURED_SDK_KEY);
    // Once the first key's window ends the queue lets every one of them go.
    now = 10_000;
    keys.expire(now);
    expect(keys.size).toBe(0);
    expect(keys.bytes).toBe(0);
  });
});
