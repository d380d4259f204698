// Server-side heartbeat (docs/protocol.md, "Errors and close codes", Heartbeat): a WebSocket ping every
// `interval`, and termination of a connection silent for `interval + timeout`.
// One timer sweeps every session, rather than a timer per connection.
import type { Session } from './session.js';

export class Heartbeat {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sessions: () => Iterable<Session>,
    private readonly interval: number,
    private readonly timeout: number,
    private readonly onDead: (session: Session) => void,
  ) {}

  start(): void {
    // Sweep often enough that a dead peer is dropped at most a quarter of the
    // shorter period late.
    const tick = Math.max(10, Math.min(this.interval, this.timeout) / 4);
    this.timer = setInterval(() => this.sweep(Date.now()), tick);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(now: number): void {
    for (const session of this.sessions()) {
      if (session.closed) continue;
      if (now - session.lastSeen >= this.interval + this.timeout) {
        this.onDead(session);
      } else if (now - session.lastPing >= this.interval) {
        session.ping(now);
      }
    }
  }
}
