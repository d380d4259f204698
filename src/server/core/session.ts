// One client connection as the core sees it: who it is, what it subscribed to,
// when it last spoke, and how much it may send. Transport-free.
import type { Codec } from '../../protocol/codec.js';
import { fitCloseReason } from '../../protocol/close-reason.js';
import { CloseCode, type ErrorCode } from '../../protocol/codes.js';
import type { ClientRequest, RequestId, ServerFrame } from '../../protocol/frames.js';
import type { Publication } from '../../brokers/broker.js';
import type { Identity } from '../auth.js';
import type { ClientContext } from './hooks.js';
import type { LimitHits } from '../limit-hits.js';
import type { Traffic } from '../tally.js';
import { RateLimiter, type RateVerdict } from './rate-limiter.js';
import type { SharedFrame, Transport } from './transport.js';

/** A subscription is pending while its reply and recovered publications are prepared. */
export interface Subscription {
  live: boolean;
  /** Publications that arrived while pending, sent after the replay. */
  buffer: Publication[];
  /** Offset of the newest publication sent (or passed over) on this channel, for dropping duplicates. */
  lastOffset: number | null;
  /** Shown in presence and join/leave events: the token's info, or what a subscribe hook gave. */
  info: unknown;
  /** The client asked not to be sent its own publications (docs/protocol.md, "Excluding the publisher"). */
  excludeSelf?: boolean;
  /** The namespace's slowConsumer is 'latest'. */
  latest?: boolean;
  /** In a 'latest' namespace while the client is behind: the newest publication not sent yet. */
  held?: Publication | null;
  /** Publications replaced by a newer `held` one since the last one sent. */
  skipped?: number;
  /** The encoded size of `held`, counted in the session's `heldBytes`. */
  heldBytes?: number;
  /** The client asked for Fossil deltas: publications after the first come as deltas from `lastSent`. */
  delta?: boolean;
  /** The publication last sent on this channel (delta subscriptions only). */
  lastSent?: Publication;
}

export interface SessionLimits {
  messagesPerSecond: number;
  bytesPerSecond: number;
  bytesBurst: number;
  burst: number;
  outboundBufferBytes: number;
}

export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** ws can only hold a timer of up to 2^31-1 ms. */
const MAX_TIMER = 2_147_483_647;

export class Session {
  readonly subscriptions = new Map<string, Subscription>();
  /** Last time anything arrived from the client, pong included. */
  lastSeen = Date.now();
  lastPing = Date.now();
  closed = false;
  /** The code and reason this server closed with, if it ended the connection. */
  closeCode: number | null = null;
  closeReason: string | null = null;
  /** Requests being answered now (limits.requestsInFlight bounds it). */
  inflight = 0;
  /** Of those, reads (history, presence): one at a time. */
  readsInFlight = 0;
  /** Requests received past the in-flight bound, answered in order as earlier ones finish. */
  readonly parked: ClientRequest[] = [];
  /**
   * Bytes of the publications held for this client outside its socket ('latest'
   * namespaces): they count against outboundBufferBytes and the node's budget.
   */
  heldBytes = 0;
  /** False while connect hooks decide: frames wait until the welcome is sent. */
  ready = true;
  /** The server's lifecycle listeners were told of this connection, so they hear of its end. */
  told = false;
  /** The server is shutting down: new requests are refused with `unavailable`. */
  draining = false;
  /** The transport's name, for metrics only (OpenParams.transport). */
  transportName = 'websocket';
  /** The handshake's headers named in proxy.headers (lower-case), for hooks. */
  headers: Readonly<Record<string, string>> = NO_HEADERS;
  /** At `expiresAt`, instead of closing 4001: ask the refresh hooks (an identity a hook gave). */
  onExpiry: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Run once the socket has written out what was queued ('latest' namespaces). */
  private drainWaiter: (() => void) | null = null;
  private readingPaused = false;
  private readonly rate: RateLimiter;
  /** Bytes received: parsing is what a client makes the server spend CPU on. */
  private readonly bytes: RateLimiter;
  private expiryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    public identity: Identity,
    readonly codec: Codec,
    private readonly transport: Transport,
    private readonly limits: SessionLimits,
    /** Remote address, for the per-IP limit and logs. */
    readonly ip: string,
    /** Where the bounds this session runs into are counted. */
    private readonly hits: LimitHits,
    /** Where frames and bytes sent are counted, for /metrics. */
    private readonly traffic: Traffic = { framesOut: 0, bytesOut: 0 },
    /** The rate limiter's clock; tests pass their own. */
    clock: () => number = Date.now,
  ) {
    this.rate = new RateLimiter(limits.messagesPerSecond, limits.burst, clock);
    this.bytes = new RateLimiter(limits.bytesPerSecond, limits.bytesBurst, clock);
  }

  get user(): string | null {
    return this.identity.user;
  }

  /** What hooks are told about this connection. */
  context(): ClientContext {
    return {
      client: this.id,
      user: this.user,
      ip: this.ip,
      info: this.identity.info,
      transport: this.transportName as ClientContext['transport'],
      protocol: this.codec.binary ? 'msgpack' : 'json',
      headers: this.headers,
    };
  }

  send(frame: ServerFrame): void {
    // Nothing is encoded for a session that is gone.
    if (!this.closed) this.sendEncoded(this.codec.encode(frame));
  }

  /** Send an already encoded frame. */
  sendEncoded(data: string | Uint8Array): void {
    if (this.closed) return;
    // A string's UTF-8 length is at most three bytes per UTF-16 unit; checking the
    // bound before queueing keeps the client's queue under the limit.
    const size = typeof data === 'string' ? data.length * 3 : data.byteLength;
    if (this.bufferedAmount + size > this.limits.outboundBufferBytes) {
      const exact = typeof data === 'string' ? Buffer.byteLength(data) : size;
      if (this.overLimit(exact)) return;
    }
    this.traffic.framesOut++;
    this.traffic.bytesOut += typeof data === 'string' ? Buffer.byteLength(data) : size;
    this.transport.send(data, this.codec.binary);
  }

  /** Send a frame encoded once for many sessions (fan-out); the same bound applies. */
  sendShared(frame: SharedFrame): void {
    if (this.closed) return;
    const size = frame.data.byteLength;
    if (this.overLimit(size)) return;
    this.traffic.framesOut++;
    this.traffic.bytesOut += size;
    this.transport.sendShared(frame);
  }

  /** True, after closing with 4008, when `size` more bytes would take the queue past its limit. */
  private overLimit(size: number): boolean {
    if (this.bufferedAmount + size <= this.limits.outboundBufferBytes) return false;
    this.hits.hit('outboundBufferBytes');
    this.close(CloseCode.SlowConsumer, 'outbound buffer over its limit');
    return true;
  }

  /** Call `wake` once the client's queue has been written out (replacing an earlier waiter). */
  whenDrained(wake: () => void): void {
    if (this.closed) return;
    const first = this.drainWaiter === null;
    this.drainWaiter = wake;
    if (first) {
      this.transport.onDrain(() => {
        const waiter = this.drainWaiter;
        this.drainWaiter = null;
        if (!this.closed) waiter?.();
      });
    }
  }

  /** Bytes queued for this client but not yet written to its socket, held publications included. */
  get bufferedAmount(): number {
    return this.transport.bufferedAmount + this.heldBytes;
  }

  /** Bytes in the socket's queue alone: how far behind the client is reading. */
  get socketBufferedAmount(): number {
    return this.transport.bufferedAmount;
  }

  /**
   * Count `delta` more (or fewer) bytes held for this client outside its
   * socket. False, after closing with 4008, when that takes it past
   * outboundBufferBytes.
   */
  hold(delta: number): boolean {
    this.heldBytes += delta;
    return delta <= 0 || !this.overLimit(0);
  }

  reply(id: RequestId | undefined, payload: unknown): void {
    if (id !== undefined) this.send({ type: 'reply', id, ok: true, payload: payload ?? null });
  }

  fail(id: RequestId | undefined, code: ErrorCode, message: string): void {
    const error = { code, message };
    if (id !== undefined) this.send({ type: 'reply', id, ok: false, error });
    else this.send({ type: 'error', error });
  }

  /** Count an incoming frame of `size` bytes against the message and byte rate limits; the stricter verdict wins. */
  takeRate(size: number): RateVerdict {
    const messages = this.rate.take();
    const bytes = this.bytes.take(size);
    if (bytes !== 'allow') this.hits.hit('bytesPerSecond');
    if (messages === 'close' || bytes === 'close') return 'close';
    return messages === 'limit' || bytes === 'limit' ? 'limit' : 'allow';
  }

  /**
   * Start the closing handshake. Never throws: the reason is fitted to what a
   * close frame carries, and a transport that fails to close is dropped
   * instead, so no socket outlives its session.
   */
  close(code: number, reason: string): void {
    if (this.closed) return;
    const fitted = fitCloseReason(reason);
    this.closed = true;
    this.parked.length = 0; // nobody to answer them
    this.closeCode = code;
    this.closeReason = fitted;
    this.clearExpiry();
    try {
      this.transport.close(code, fitted);
    } catch {
      this.dropTransport();
    }
  }

  /** Drop the connection without a close frame (the peer sees 1006). */
  terminate(reason: string): void {
    if (!this.closed) {
      this.closeCode = 1006;
      this.closeReason = reason;
    }
    this.closed = true;
    this.parked.length = 0;
    this.clearExpiry();
    this.dropTransport();
  }

  private dropTransport(): void {
    try {
      this.transport.terminate();
    } catch {
      // Nothing is left to do for a socket that cannot even be destroyed.
    }
  }

  /** Pause reading from the client (requests are parked) or resume it. */
  pauseReading(paused: boolean): void {
    if (paused === this.readingPaused) return;
    this.readingPaused = paused;
    if (paused) this.transport.pause();
    else this.transport.resume();
  }

  /** One request finished; resolves `whenIdle` waiters once none is left. */
  requestDone(): void {
    this.inflight--;
    if (this.inflight === 0 && (this.parked.length === 0 || this.closed)) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Resolves once no request of this session is being answered or waiting. */
  whenIdle(): Promise<void> {
    if (this.inflight === 0 && (this.parked.length === 0 || this.closed)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  ping(now: number): void {
    this.lastPing = now;
    this.transport.ping();
  }

  /** Close with 4001 when the token expires, unless `refresh` replaces it first. */
  scheduleExpiry(): void {
    this.clearExpiry();
    const expiresAt = this.identity.expiresAt;
    if (expiresAt === null || this.closed) return;
    const delay = expiresAt * 1000 - Date.now();
    if (delay <= 0) {
      // A token's identity (a `refresh` request may have replaced the hook's) closes as tokens do.
      if (this.onExpiry && this.identity.byHook) this.onExpiry();
      else this.close(CloseCode.TokenExpired, 'token expired');
      return;
    }
    this.expiryTimer = setTimeout(() => this.scheduleExpiry(), Math.min(delay, MAX_TIMER));
    this.expiryTimer.unref();
  }

  markClosed(): void {
    this.closed = true;
    this.parked.length = 0;
    this.clearExpiry();
  }

  private clearExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
  }
}
