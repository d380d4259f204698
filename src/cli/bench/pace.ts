// Pacing under the server's message rate. Every welcome announces the
// per-connection rate the server allows (limits.messagesPerSecond); a
// connection that goes over it is answered rate_limited and, past another
// burst, closed with 4029. So the loops that send (echo's pings, the fan-out
// publisher) keep under PACE_SHARE of it: against a server with default limits
// bench measures at that rate instead of being refused, and says so; with the
// raised limits of a benchmark config the gap is a microsecond and changes nothing.

/** The share of the announced rate bench sends at, leaving room for timer jitter. */
export const PACE_SHARE = 0.9;

/** Microseconds to leave between two messages of one connection, from the text of its welcome frame; 0 when it announces no rate. */
export function gapFromWelcome(welcome: string): number {
  let rate: unknown;
  try {
    rate = (JSON.parse(welcome) as { payload?: { limits?: { rate?: { messagesPerSecond?: unknown } } } }).payload?.limits?.rate?.messagesPerSecond;
  } catch {
    return 0;
  }
  return typeof rate === 'number' && rate > 0 ? 1e6 / (rate * PACE_SHARE) : 0;
}

/** The announced rate back from a gap, for the note that names it. */
export function rateOfGap(gapMicros: number): number {
  return Math.round(1e6 / gapMicros / PACE_SHARE);
}
