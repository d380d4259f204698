// Latency histogram for `bench`, HDR-style: exact below 64 µs, then 32 linear
// buckets per power of two, so a percentile is within 1/32 (about 3%) of the
// true value. Counts are a flat array: merging workers is adding arrays, and a
// record is a few integer operations (no allocation, no floating log).
const EXACT = 64;
const SUB_BITS = 5;
const SUB = 1 << SUB_BITS;
const MAX_EXPONENT = 30;
export const BUCKETS = EXACT + (MAX_EXPONENT - 5) * SUB;

export function bucketOf(value: number): number {
  const v = value < 0 ? 0 : value > 0x7fffffff ? 0x7fffffff : value | 0;
  if (v < EXACT) return v;
  const exponent = 31 - Math.clz32(v);
  return EXACT + (exponent - 6) * SUB + ((v >> (exponent - SUB_BITS)) - SUB);
}

/** The middle of a bucket's range. */
export function valueOf(bucket: number): number {
  if (bucket < EXACT) return bucket;
  const k = bucket - EXACT;
  const exponent = 6 + Math.floor(k / SUB);
  const width = 2 ** (exponent - SUB_BITS);
  return ((k % SUB) + SUB) * width + width / 2;
}

export class Histogram {
  counts = new Float64Array(BUCKETS);
  total = 0;
  max = 0;

  record(value: number): void {
    this.counts[bucketOf(value)]! += 1;
    this.total += 1;
    if (value > this.max) this.max = value;
  }

  /** Non-empty buckets as [index, count] pairs, for sending to the parent; then clears. */
  drain(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    this.counts.fill(0);
    this.total = 0;
    return out;
  }

  add(pairs: [number, number][]): void {
    for (const [i, c] of pairs) {
      this.counts[i]! += c;
      this.total += c;
      const v = valueOf(i);
      if (v > this.max) this.max = v;
    }
  }

  minus(other: Histogram): Histogram {
    const out = new Histogram();
    for (let i = 0; i < BUCKETS; i++) {
      const c = this.counts[i]! - other.counts[i]!;
      out.counts[i] = c;
      out.total += c;
      if (c > 0) out.max = valueOf(i);
    }
    return out;
  }

  clone(): Histogram {
    const out = new Histogram();
    out.counts.set(this.counts);
    out.total = this.total;
    out.max = this.max;
    return out;
  }

  percentile(p: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return valueOf(i);
    }
    return this.max;
  }
}
