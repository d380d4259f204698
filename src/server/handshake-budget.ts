// Admission of work, not of clients (docs/protocol.md, "Deploys without
// storms"): a node that is already behind (its event loop lags, or too many
// handshakes wait for a token check or a hook) turns a new WebSocket away at
// once with 1013 and a retry hint, before any auth, subscribe or recovery
// work. A client told to come back later costs one cheap upgrade; one left in
// a full listen backlog times out, retries, and adds to the load it met.
import { performance } from 'node:perf_hooks';
import type { Config } from './config.js';

/** How often the event loop's lag is sampled, ms. */
const SAMPLE_MS = 10;
/** A lag is remembered this long: a node that just stalled is still behind on what queued meanwhile. */
const PEAK_MS = 200;
/**
 * Even while lagging, this many upgrades a second go ahead: a loop slowed by
 * something else (a busy box, a long fan-out) must not shut every client out.
 */
const MIN_ADMITTED_PER_SECOND = 500;
/** ...in bursts of at most this many (a tenth of a second's worth). */
const ALLOWANCE_DEPTH = 50;

export type ShedReason = 'lag' | 'in_flight';

export class HandshakeBudget {
  /** Upgrades turned away, by reason: for /metrics. */
  readonly shed = { lag: 0, in_flight: 0 };
  /** Upgrades between the request and the session (token checks, authenticate hooks). */
  inFlight = 0;
  private lastSample = performance.now();
  /** The largest lag sampled within PEAK_MS, and when. */
  private peak = 0;
  private peakAt = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  /** Upgrades that may still go ahead while lagging (a token bucket of MIN_ADMITTED_PER_SECOND, ALLOWANCE_DEPTH deep). */
  private allowance = 0;
  private allowanceAt = performance.now();

  constructor(private readonly admission: Config['admission']) {}

  /** Sample the loop from now on (unref'd: it never keeps the process alive). */
  start(): void {
    if (this.timer) return;
    this.lastSample = performance.now();
    this.timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.lastSample - SAMPLE_MS);
      if (lag >= this.peak || now - this.peakAt > PEAK_MS) {
        this.peak = lag;
        this.peakAt = now;
      }
      this.lastSample = now;
    }, SAMPLE_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * The loop's lag now, ms: the largest sampled within PEAK_MS, or longer
   * when the current turn has already overrun its sample (a burst of
   * upgrades handled in one turn is seen while it is handled, not a turn later).
   */
  lagMs(): number {
    const now = performance.now();
    return Math.max(now - this.peakAt <= PEAK_MS ? this.peak : 0, now - this.lastSample - SAMPLE_MS);
  }

  /** Why a new handshake must wait, or null when it may go ahead. */
  over(): ShedReason | null {
    if (this.inFlight >= this.admission.maxHandshakes) return 'in_flight';
    if (this.timer && this.lagMs() > this.admission.maxLagMs && !this.allowed()) return 'lag';
    return null;
  }

  /** Take one from the allowance for lagging times, if one is left. */
  private allowed(): boolean {
    const now = performance.now();
    this.allowance = Math.min(ALLOWANCE_DEPTH, this.allowance + ((now - this.allowanceAt) / 1000) * MIN_ADMITTED_PER_SECOND);
    this.allowanceAt = now;
    if (this.allowance < 1) return false;
    this.allowance--;
    return true;
  }

  /** Count an upgrade turned away. */
  turnedAway(reason: ShedReason): void {
    this.shed[reason]++;
  }

  /** A hint for a client turned away: about `admission.retryIn`, spread from half to one and a half of it. */
  retryIn(random: () => number = Math.random): number {
    return Math.round(this.admission.retryIn * (0.5 + random()));
  }
}
