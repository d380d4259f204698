// Per-second rates of ever-growing counters, averaged over the last few
// seconds, for /api/stats. One sample a second; reading costs nothing on the
// hot path, which only increments the counters.
export class RateMeter<Counters extends Record<string, number>> {
  private samples: Array<{ at: number; values: Counters }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly read: () => Counters,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    const at = this.now();
    this.samples.push({ at, values: this.read() });
    // Keep one sample at or beyond the window's start, as the baseline.
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }

  /** Each counter's growth per second since the oldest sample in the window. */
  rates(): Counters {
    const current = this.read();
    const oldest = this.samples[0];
    const seconds = oldest ? (this.now() - oldest.at) / 1000 : 0;
    const rates: Record<string, number> = {};
    for (const [key, value] of Object.entries(current)) {
      rates[key] = seconds > 0 ? Math.round(((value - (oldest!.values[key] ?? 0)) / seconds) * 10) / 10 : 0;
    }
    return rates as Counters;
  }
}
