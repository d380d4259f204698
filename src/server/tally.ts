// Counts by label values (a close code and who closed, a namespace...), kept
// as plain numbers in a Map so that the hot path only adds to one, and read
// by /metrics when scraped. Label values must come from a bounded set.

export class Tally {
  private readonly counts = new Map<string, number>();

  /** Add `times` under the label values, in the metric's label order. */
  inc(labels: readonly (string | number)[], times = 1): void {
    const key = labels.join('\u0000');
    this.counts.set(key, (this.counts.get(key) ?? 0) + times);
  }

  /** Each label-value tuple seen, with its count. */
  *entries(): Iterable<[string[], number]> {
    for (const [key, count] of this.counts) yield [key.split('\u0000'), count];
  }

  total(): number {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }
}

/** Frames and bytes a node sent, added to by every session. */
export interface Traffic {
  framesOut: number;
  bytesOut: number;
}
