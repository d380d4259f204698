// The client's side of the heartbeat (docs/protocol.md, "Errors and close codes", Heartbeat). Browsers
// cannot see WebSocket pings, so after `interval` ms without any frame the
// client sends {"type":"ping"}, and the connection is dead when nothing has
// arrived `timeout` ms after that ping was sent.
//
// Everything is judged by elapsed time, not by counting ticks: a background
// tab may fire this timer a minute late, and a late tick must only lead to a
// ping, never to a false disconnect.
export class ClientHeartbeat {
  private lastReceived: number;
  private pingSentAt: number | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly interval: number,
    private readonly timeout: number,
    private readonly sendPing: () => void,
    private readonly onDead: () => void,
    private readonly now: () => number = Date.now,
  ) {
    this.lastReceived = now();
  }

  start(): void {
    this.timer = setInterval(() => this.check(), Math.max(20, Math.min(this.interval, this.timeout) / 2));
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Any frame from the server. */
  received(): void {
    this.lastReceived = this.now();
    this.pingSentAt = null;
  }

  check(): void {
    const now = this.now();
    if (this.pingSentAt !== null) {
      if (now - this.pingSentAt >= this.timeout) {
        this.stop();
        this.onDead();
      }
    } else if (now - this.lastReceived >= this.interval) {
      this.pingSentAt = now;
      this.sendPing();
    }
  }
}
