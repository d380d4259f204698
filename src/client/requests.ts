// Requests that await a reply (publish, rpc, presence, history, refresh). Each
// settles exactly once: with the reply, a typed error, a timeout or an abort.
// While disconnected they wait in a queue bounded by count and bytes.
import { SwitchboardError } from '../protocol/codes.js';
import type { ReplyFrame } from '../protocol/frames.js';

export interface RequestOptions {
  /** ms until the request rejects with code `timeout`; counted from the call, queued time included. */
  timeout?: number;
  signal?: AbortSignal;
}

export interface QueueLimits {
  maxCount: number;
  maxBytes: number;
}

interface Pending {
  id: number;
  data: string | Uint8Array;
  sent: boolean;
  settle: (error: unknown, payload?: unknown) => void;
}

export class Requests {
  private readonly pending = new Map<number, Pending>();
  private queued: Pending[] = [];
  private queuedBytes = 0;

  constructor(private readonly limits: QueueLimits) {}

  /**
   * Track a request; `send` is called now when connected, or later from flush().
   * Resolves with the reply payload.
   */
  add(id: number, data: string | Uint8Array, connected: boolean, send: (data: string | Uint8Array) => void, options: RequestOptions & { timeout: number }): Promise<unknown> {
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
      const onAbort = () => entry.settle(signal!.reason);
      const timer = setTimeout(
        () => entry.settle(new SwitchboardError('timeout', `no reply within ${options.timeout} ms`)),
        options.timeout,
      );
      const entry: Pending = {
        id,
        data,
        sent: false,
        settle: (error, payload) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.forget(entry, size);
          if (error === undefined) resolve(payload);
          else reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, entry);
      if (connected) {
        entry.sent = true;
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
    else entry.settle(new SwitchboardError(frame.error.code, frame.error.message));
    return true;
  }

  /** Connected again: send what waited. */
  flush(send: (data: string | Uint8Array) => void): void {
    const queued = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    for (const entry of queued) {
      entry.sent = true;
      send(entry.data);
    }
  }

  /** The connection dropped: requests already sent will never get their reply. */
  failSent(error: SwitchboardError): void {
    for (const entry of [...this.pending.values()]) if (entry.sent) entry.settle(error);
  }

  failAll(error: SwitchboardError): void {
    for (const entry of [...this.pending.values()]) entry.settle(error);
  }

  private forget(entry: Pending, size: number): void {
    this.pending.delete(entry.id);
    if (!entry.sent) {
      const index = this.queued.indexOf(entry);
      if (index !== -1) {
        this.queued.splice(index, 1);
        this.queuedBytes -= size;
      }
    }
  }
}
