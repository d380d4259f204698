// The bench's latency histogram: percentiles within its stated 1/32 of the truth.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { bucketOf, Histogram, valueOf } from '../../src/cli/bench/histogram.js';

it('gives percentiles within 1/32 of the exact ones', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 1, maxLength: 500 }), fc.integer({ min: 1, max: 100 }), (values, p) => {
      const h = new Histogram();
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
      expect(Math.abs(h.percentile(p)! - exact)).toBeLessThanOrEqual(Math.max(0.5, exact / 32));
    }),
  );
});

it('orders buckets like values, and merges by adding counts', () => {
  let last = -1;
  for (let v = 0; v < 1 << 20; v += 37) {
    const b = bucketOf(v);
    expect(b).toBeGreaterThanOrEqual(last);
    last = b;
  }
  const a = new Histogram();
  const b = new Histogram();
  a.record(100);
  b.record(1_000_000);
  a.add(b.drain());
  expect(a.total).toBe(2);
  expect(a.percentile(100)).toBeCloseTo(valueOf(bucketOf(1_000_000)));
  expect(new Histogram().percentile(50)).toBeNull();
});
