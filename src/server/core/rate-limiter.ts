// Token bucket per connection (docs/protocol.md, "Errors and close codes", Rate limit): `burst` tokens,
// refilled at `perSecond`. Messages without a token are refused; once a client
// keeps going until it owes another full burst, it is cut off.

export type RateVerdict = 'allow' | 'limit' | 'close';

export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Take `cost` tokens (1 per message; a frame's length for the byte limit). */
  take(cost = 1): RateVerdict {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    this.tokens -= cost;
    if (this.tokens >= 0) return 'allow';
    // Refused messages still count, so a client that ignores rate_limited
    // reaches -burst after twice the burst and is closed with 4029.
    return this.tokens < -this.burst ? 'close' : 'limit';
  }
}
