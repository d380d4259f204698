// Acknowledge a stored publication only once a replica has it, so that a
// failover to that replica cannot lose it (Redis replicates asynchronously).
// docs/scaling.md, "Redis Sentinel", says what this holds and what not.
import type { Redis } from 'ioredis';
import type { RedisClient } from './redis-connection.js';

export class ReplicaWait {
  /**
   * Replicas the master has online now (past their initial sync), as ROLE
   * last said; until it has said, as
   * many as wanted. A master that lost its replicas (it was one, promoted
   * after the old master died) waits for none, so publishing resumes; it
   * waits again as soon as a replica is attached.
   */
  private attached: number;
  /** Publications refused because too few replicas confirmed them in time, for /metrics. */
  misses = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly wanted: number,
    private readonly timeout: number,
  ) {
    this.attached = wanted;
  }

  /** Ask the master how many replicas it has; called on every (re)connect and every probe. */
  refresh(): void {
    if (this.wanted === 0 || this.redis.status !== 'ready') return;
    (this.redis.call('ROLE') as Promise<[string, unknown, unknown[]?]>).then(
      ([role, , replicas]) => {
        // A demoted master answers 'slave' until the reconnect; writes fail there anyway.
        if (role === 'master') this.attached = replicas?.length ?? 0;
      },
      () => {}, // the next probe asks again
    );
  }

  /**
   * Resolves once enough replicas have this connection's writes so far. Send
   * it right behind the write, on the same connection. It fails when they do
   * not confirm within half the command timeout, so WAIT answers before the
   * timeout gives up on it.
   */
  async confirmed(): Promise<void> {
    const wanted = Math.min(this.wanted, this.attached);
    if (wanted === 0) return;
    const within = Math.max(1, Math.floor(this.timeout / 2));
    const confirmed = await (this.redis as Redis).wait(wanted, within);
    if (confirmed < wanted) {
      this.misses++;
      this.refresh();
      throw new Error(`${confirmed} of ${wanted} replicas confirmed the publication within ${within} ms; it may still have been stored and delivered`);
    }
  }
}
