// When a draining node tells its clients to come back (docs/protocol.md,
// "Deploys without storms"). With other nodes alive, the connections it closes
// are told to reconnect within a second: behind a load balancer they reach the
// other nodes, spread over drainWindow by the pacing itself. A node alone (one
// restarted in place) tells them to wait for the end of the drain, spread over
// a stretch that grows with the clients it had, so the process that takes
// over is not hit at once; so is a client that comes back while it drains (a
// balancer that sent it here again).

/** A drain closes at least this many connections a second: a small node's drain is short. */
const MIN_CLOSES_PER_SECOND = 1_000;
/** The spread of the hint given with each paced close, ms. */
const CLOSE_SPREAD_MS = 1_000;
/**
 * Clients per second a restarted node is asked to take, at the most, from the
 * ones this node had: about what a node on one busy core completes (handshake,
 * resubscribe, recovery; docs/operations.md, "Deploys"), so its listen queue
 * does not overflow into dropped SYNs and 1 s, 3 s, 7 s retransmits.
 */
const ARRIVALS_PER_SECOND = 1_500;
/**
 * A node alone is replaced by a new process: about this long after the drain
 * it listens. Clients told to come back earlier meet a closed port and back
 * off, and pile up on the new process's first second.
 */
const RESTART_MS = 1_000;
/** Bounds of the stretch over which returning clients are spread, ms. */
const MIN_SPREAD_MS = 1_000;
const MAX_SPREAD_MS = 10_000;

export class DrainPlan {
  private readonly spreadMs: number;
  /** The closes are spread over this many ms: drainWindow, or less for a node with few connections. */
  readonly windowMs: number;
  /** When the last paced close is due. */
  readonly endsAt: number;

  constructor(
    drainWindow: number,
    sessions: number,
    /** Other nodes are alive to take the clients over now. */
    private readonly peers: boolean,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.windowMs = Math.min(drainWindow, Math.floor((sessions / MIN_CLOSES_PER_SECOND) * 1000));
    this.endsAt = now() + this.windowMs;
    this.spreadMs = Math.min(MAX_SPREAD_MS, Math.max(MIN_SPREAD_MS, (sessions / ARRIVALS_PER_SECOND) * 1000));
  }

  /** The retryIn of a connection closed by the drain. */
  closeHint(): number {
    return this.peers ? Math.floor(this.random() * CLOSE_SPREAD_MS) : this.returnHint();
  }

  /** The retryIn of an upgrade turned away during the drain: after its end and a restart, spread. */
  returnHint(): number {
    return Math.max(0, this.endsAt - this.now()) + RESTART_MS + Math.floor(this.random() * this.spreadMs);
  }
}
