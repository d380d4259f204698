// Reconnect delays: "full jitter" exponential backoff, so that clients dropped
// together (a server restart) do not come back together.
export interface BackoffOptions {
  /** Ceiling of the first delay, ms. */
  initialDelay: number;
  /** Largest ceiling, ms. */
  maxDelay: number;
}

/** A random delay between 0 and min(maxDelay, initialDelay * 2^attempt). */
export function fullJitter(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelay, options.initialDelay * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}
