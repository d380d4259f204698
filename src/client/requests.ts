// Requests that await a reply (publish, rpc, presence, history, refresh). Each
// settles exactly once: with the reply, a typed error, a timeout or an abort.
// While disconnected they wait in a queue bounded by count and bytes.
//
// Idempotent requests (publish, which carries an idempotency key) are never
// given up on once sent: a connection lost before the reply, or an
// `unavailable` answer, puts them back in the queue to be sent again with the
// same key, for as long as the server remembers keys (its idempotencyWindow).
// So one that resolves was stored once, and one that rejects was never
// stored, except the one outcome that cannot be known (docs/client.md,
// "Exactly once from the sender").
import { SwitchboardError } from '../protocol/codes.js';
import type { ReplyFrame } from '../protocol/frames.js';

export interface RequestOptions {
  /** ms until the request rejects with code `timeout`; counted from the call, queued time included. */
  timeout?: number;
  signal?: AbortSignal;
}

/** publish's options (docs/client.md, "Exactly once from the sender"). */
export interface PublishOptions extends RequestOptions {
  /** Your own key (up to 64 characters), e.g. one stored with the change it announces; by default the client makes one. */
  idempotencyKey?: string;
  /** 'self': this client does not receive this publication on its own subscription. */
  exclude?: 'self';
}

export interface QueueLimits {
  maxCount: number;
  maxBytes: number;
}

interface Pending {
  id: number;
  data: string | Uint8Array;
  /** On the current connection, awaiting its reply. */
  sent: boolean;
  size: number;
  /** Safe to send again (same idempotency key): resent instead of failed. */
  idempotent: boolean;
  /** When it was first sent (ms), or null: the server remembers its key from then. */
  firstSent: number | null;
  settle: (error: unknown, payload?: unknown) => void;
}

/** Part of the idempotency window left for a resend to reach the server in time. */
const WINDOW_SHARE = 0.8;

export class Requests {
  private readonly pending = new Map<number, Pending>();
  private queued: Pending[] = [];
  private queuedBytes = 0;
  /** The server's idempotencyWindow (welcome); null: unknown, so nothing is resent. */
  window: number | null = null;

  constructor(
    private readonly limits: QueueLimits,
    /** An idempotent request was answered `unavailable` and waits in the queue: send it again later. */
    private readonly retryLater: () => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Track a request; `send` is called now when connected, or later from flush().
   * Resolves with the reply payload.
   */
  add(
    id: number,
    data: string | Uint8Array,
    connected: boolean,
    send: (data: string | Uint8Array) => void,
    options: RequestOptions & { timeout: number; idempotent?: boolean },
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const size = typeof data === 'string' ? data.length : data.byteLength;
      if (!connected && (this.queued.length >= this.limits.maxCount || this.queuedBytes + size > this.limits.maxBytes)) {
        reject(new SwitchboardError('unavailable', 'offline queue is full'));
        return;
      }
      const { signal } = options;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      let done = false;
      // Like the timeout, an abort cannot take back an idempotent request already sent.
      const onAbort = () => {
        if (!entry.idempotent || entry.firstSent === null) entry.settle(signal!.reason);
      };
      // Once an idempotent request has been sent it may be stored: it then
      // waits for its answer (resent as needed) instead of timing out.
      const timer = setTimeout(() => {
        if (!entry.idempotent || entry.firstSent === null) entry.settle(new SwitchboardError('timeout', `no reply within ${options.timeout} ms`));
      }, options.timeout);
      const entry: Pending = {
        id,
        data,
        sent: false,
        size,
        idempotent: options.idempotent === true,
        firstSent: null,
        settle: (error, payload) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.forget(entry);
          if (error === undefined) resolve(payload);
          else reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      if (connected) {
        this.markSent(entry);
        send(data);
      } else {
        this.queued.push(entry);
        this.queuedBytes += size;
      }
    });
  }

  /** A reply arrived: true when it answered one of these requests. */
  reply(frame: ReplyFrame): boolean {
    const entry = this.pending.get(frame.id as number);
    if (!entry) return false;
    if (frame.ok) entry.settle(undefined, frame.payload);
    else if (frame.error.code === 'unavailable' && entry.idempotent) {
      // Not done (draining) or not known (broker timeout): the same key makes trying again safe.
      entry.sent = false;
      if (this.requeue([entry], frame.error.message)) this.retryLater();
    } else entry.settle(new SwitchboardError(frame.error.code, frame.error.message));
    return true;
  }

  /** True when requests wait to be sent. */
  get waiting(): boolean {
    return this.queued.length > 0;
  }

  /** Connected again: send what waited. */
  flush(send: (data: string | Uint8Array) => void): void {
    const queued = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const entry of queued) {
      this.markSent(entry);
      send(entry.data);
    }
  }

  /**
   * The connection dropped: requests already sent will never get their reply.
   * Idempotent ones go back to the front of the queue, in the order first made.
   */
  failSent(error: SwitchboardError): void {
    const again: Pending[] = [];
    for (const entry of [...this.pending.values()]) {
      if (!entry.sent) continue;
      entry.sent = false;
      if (entry.idempotent) again.push(entry);
      else entry.settle(error);
    }
    this.requeue(again, error.message);
  }

  failAll(error: SwitchboardError): void {
    for (const entry of [...this.pending.values()]) entry.settle(error);
  }

  /**
   * Put sent idempotent requests back at the front of the queue (past the
   * queue's bounds: they were accepted already). One the server may no longer
   * deduplicate is not resent: it rejects with `timeout`, the one outcome
   * that does not say whether it was stored. False when none was requeued.
   */
  private requeue(entries: Pending[], why: string): boolean {
    const now = this.now();
    const kept = entries
      .filter((entry) => {
        if (this.window === null) {
          // A server that announces no window: today's rule, it may have happened.
          entry.settle(new SwitchboardError('unavailable', why));
          return false;
        }
        if (now - entry.firstSent! < this.window * WINDOW_SHARE) return true;
        const said = `no answer within the server's idempotency window of ${this.window} ms (${why})`;
        entry.settle(new SwitchboardError('timeout', `${said}; it may or may not have been stored`));
        return false;
      })
      .sort((a, b) => a.id - b.id);
    this.queued = [...kept, ...this.queued];
    for (const entry of kept) this.queuedBytes += entry.size;
    return kept.length > 0;
  }

  private markSent(entry: Pending): void {
    entry.sent = true;
    entry.firstSent ??= this.now();
  }

  private forget(entry: Pending): void {
    this.pending.delete(entry.id);
    if (!entry.sent) {
      const index = this.queued.indexOf(entry);
      if (index !== -1) {
        this.queued.splice(index, 1);
        this.queuedBytes -= entry.size;
      }
    }
  }
}
