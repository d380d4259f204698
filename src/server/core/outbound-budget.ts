// The node's bound on bytes queued for clients, all connections together
// (limits.outboundBytes). Each connection is bounded by outboundBufferBytes,
// but 100,000 connections at their bound would hold 400 GiB: once a second
// the queues are added up, and while the sum is over the budget the
// connections holding the most are closed with 4008, as a slow consumer is.
import { CloseCode } from '../../protocol/codes.js';
import type { LimitHits } from '../limit-hits.js';
import type { Session } from './session.js';

const CHECK_EVERY_MS = 1_000;

export class OutboundBudget {
  /** Bytes queued for all connections at the last check, for /metrics. */
  total = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sessions: () => Iterable<Session>,
    private readonly budget: number,
    private readonly hits: LimitHits,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Add up the queues; over the budget, close the largest until the rest fits. */
  check(): void {
    let total = 0;
    for (const session of this.sessions()) if (!session.closed) total += session.bufferedAmount;
    this.total = total;
    if (total <= this.budget) return;
    // Sorting only happens over the budget, which a healthy node never is.
    const largest = [...this.sessions()].filter((s) => !s.closed && s.bufferedAmount > 0).sort((a, b) => b.bufferedAmount - a.bufferedAmount);
    for (const session of largest) {
      if (total <= this.budget) break;
      total -= session.bufferedAmount;
      this.hits.hit('outboundBytes');
      session.close(CloseCode.SlowConsumer, 'node outbound budget over its limit');
    }
  }
}
