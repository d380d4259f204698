// The transport-free heart of a server: it is handed connections that passed
// the handshake, and their frames, pongs and closes. It owns the sessions, the
// hub, request dispatch and heartbeats. Nothing here knows about HTTP or `ws`.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker } from '../brokers/broker.js';
import type { Codec } from '../protocol/codec.js';
import type { ClientFrame } from '../protocol/frames.js';
import { CloseCode } from '../protocol/codes.js';
import type { Identity } from './auth.js';
import { TokenVerifier } from './auth.js';
import type { Config } from './config.js';
import { Dispatcher } from './dispatch.js';
import { parseBinaryFrame, parseTextFrame } from './envelope.js';
import { Heartbeat } from './heartbeat.js';
import { Hub } from './hub.js';
import { LimitHits } from './limit-hits.js';
import { Namespaces } from './namespaces.js';
import { RateMeter } from './rate-meter.js';
import { RpcRegistry } from './rpc.js';
import { Session } from './session.js';
import type { Transport } from './transport.js';

/** Sessions closed per turn of the event loop during a drain. */
const DRAIN_SLICE = 500;

export interface ConnectionInfo {
  client: string;
  user: string | null;
  ip: string;
}

export interface Hooks {
  onConnect?: (info: ConnectionInfo) => void;
  onDisconnect?: (info: ConnectionInfo, code: number, reason: string) => void;
}

export interface OpenParams {
  identity: Identity;
  codec: Codec;
  ip: string;
}

export class Core {
  readonly sessions = new Map<string, Session>();
  readonly namespaces: Namespaces;
  readonly hub: Hub;
  readonly rpc: RpcRegistry;
  readonly verifier: TokenVerifier;
  readonly nodeId = randomUUID();
  readonly hooks: Hooks = {};
  private readonly dispatcher: Dispatcher;
  private readonly heartbeat: Heartbeat;
  /** Frames received, publications and deliveries per second, for /api/stats. */
  readonly rates = new RateMeter(() => ({
    received: this.counters.received,
    publications: this.hub.stats.publications,
    delivered: this.hub.stats.delivered,
  }));
  readonly counters = { received: 0, rateLimited: 0, badRequests: 0 };
  /** Each bound a client ran into, for /metrics. */
  readonly limitHits = new LimitHits();
  private emptyWaiters: Array<() => void> = [];
  /** Subscriptions of closed sessions still being removed (presence, leave events). */
  private readonly cleanups = new Set<Promise<void>>();

  constructor(
    readonly config: Config,
    readonly broker: Broker,
    private readonly logger: Logger,
  ) {
    this.rpc = new RpcRegistry(config.rpcTimeout);
    this.namespaces = new Namespaces(config.namespaces);
    this.verifier = new TokenVerifier(config);
    this.hub = new Hub(broker, this.namespaces, config.limits, this.limitHits, config.idempotencyWindow);
    this.dispatcher = new Dispatcher(this.hub, this.namespaces, this.rpc, this.verifier, logger, config.limits.maxReplyBytes);
    this.heartbeat = new Heartbeat(
      () => this.sessions.values(),
      config.heartbeat.interval,
      config.heartbeat.timeout,
      (session) => {
        this.logger.debug({ client: session.id }, 'heartbeat timeout');
        session.terminate('heartbeat timeout');
      },
    );
  }

  async start(): Promise<void> {
    await this.broker.start(this.hub.onBrokerEvent);
    this.heartbeat.start();
    this.rates.start();
  }

  async stop(): Promise<void> {
    this.heartbeat.stop();
    this.rates.stop();
    // Let departed clients leave presence before the broker goes.
    await Promise.all(this.cleanups);
    await this.broker.close();
  }

  /** A connection passed the handshake: greet it. */
  open(transport: Transport, params: OpenParams): Session {
    const { limits, heartbeat } = this.config;
    const session = new Session(randomUUID(), params.identity, params.codec, transport, limits, params.ip, this.limitHits);
    this.sessions.set(session.id, session);
    session.send({
      type: 'welcome',
      payload: {
        client: session.id,
        user: session.user,
        server: this.nodeId,
        heartbeat: { interval: heartbeat.interval, timeout: heartbeat.timeout },
        limits: {
          maxPayload: limits.maxPayload,
          rate: { messagesPerSecond: limits.messagesPerSecond, burst: limits.burst },
          idempotencyWindow: this.config.idempotencyWindow,
        },
      },
    });
    session.scheduleExpiry();
    this.logger.info({ client: session.id, user: session.user, ip: session.ip, protocol: params.codec.subprotocol }, 'connect');
    this.callHook('onConnect', session, () => this.hooks.onConnect?.(connectionInfo(session)));
    return session;
  }

  /** One frame arrived. */
  message(session: Session, data: Buffer, isBinary: boolean): void {
    session.lastSeen = Date.now();
    if (session.closed) return;
    this.counters.received++;
    if (isBinary !== session.codec.binary) {
      session.close(CloseCode.UnsupportedData, isBinary ? 'binary frames are not accepted on switchboard.v1.json' : 'text frames are not accepted on this subprotocol');
      return;
    }
    const verdict = session.takeRate();
    if (verdict !== 'allow') {
      this.counters.rateLimited++;
      if (verdict === 'close') {
        session.close(CloseCode.RateLimited, 'message rate over its limit');
        return;
      }
    }
    const parsed = isBinary ? parseBinaryFrame(session.codec, data) : parseTextFrame(data.toString('utf8'));
    if (!parsed.ok) {
      this.counters.badRequests++;
      if (parsed.limit) this.limitHits.hit(parsed.limit);
      session.fail(parsed.id, 'bad_request', parsed.message);
      return;
    }
    const { frame } = parsed;
    if (verdict === 'limit') {
      session.fail(frame.id, 'rate_limited', 'message rate over its limit; slow down');
      return;
    }
    if (frame.type === 'ping') {
      // Holds nothing and must not wait behind slow requests: the heartbeat depends on it.
      session.send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
      return;
    }
    if (session.draining) {
      session.fail(frame.id, 'unavailable', 'server is shutting down; reconnect');
      return;
    }
    if (session.parked.length >= 2 * this.config.limits.burst) {
      this.limitHits.hit('requestsInFlight');
      session.fail(frame.id, 'rate_limited', `at most ${this.config.limits.requestsInFlight} requests in flight; wait for replies`);
      return;
    }
    session.parked.push(frame);
    this.pump(session);
  }

  /**
   * Start parked requests, in order, while the session has room: at most
   * limits.requestsInFlight at once, and one read (history, presence) at a
   * time, since a read's reply can be large. While some wait, reading from the
   * socket pauses so that TCP pushes back on the client; frames already read
   * still arrive, their count bounded by the rate limit (past twice the burst,
   * close 4029) and their bytes by the paused socket.
   */
  private pump(session: Session): void {
    const cap = this.config.limits.requestsInFlight;
    while (!session.closed && session.parked.length > 0 && session.inflight < cap) {
      const heavy = isRead(session.parked[0]!);
      if (heavy && session.readsInFlight > 0) break;
      const frame = session.parked.shift()!;
      this.run(session, frame, heavy);
    }
    if (!session.closed) session.pauseReading(session.parked.length > 0);
  }

  private run(session: Session, frame: ClientFrame, heavy: boolean): void {
    session.inflight++;
    if (heavy) session.readsInFlight++;
    this.dispatcher
      .handle(session, frame)
      .catch((error: unknown) => this.logger.error({ err: error, client: session.id, type: frame.type }, 'request failed'))
      .finally(() => {
        if (heavy) session.readsInFlight--;
        session.requestDone();
        this.pump(session);
      });
  }

  pong(session: Session): void {
    session.lastSeen = Date.now();
  }

  /** The transport closed, for whatever reason. */
  closed(session: Session, peerCode: number, peerReason: string): void {
    if (!this.sessions.delete(session.id)) return;
    // A slow or vanished peer never answers our close frame (ws reports 1006):
    // what the logs and hooks need is the code and reason this server gave.
    const code = session.closeCode ?? peerCode;
    const reason = session.closeReason !== null && peerCode === 1006 ? session.closeReason : peerReason;
    session.markClosed();
    this.logger.info({ client: session.id, user: session.user, code, reason }, 'disconnect');
    const cleanup = this.hub.removeSession(session).catch((error: unknown) => {
      this.logger.warn({ err: error, client: session.id }, 'cleanup after disconnect failed');
    });
    this.cleanups.add(cleanup);
    void cleanup.finally(() => this.cleanups.delete(cleanup));
    this.callHook('onDisconnect', session, () => this.hooks.onDisconnect?.(connectionInfo(session), code, reason));
    if (this.sessions.size === 0) for (const wake of this.emptyWaiters.splice(0)) wake();
  }

  /** Resolves true once no session is left, or false after `timeoutMs`. */
  whenEmpty(timeoutMs: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.emptyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Shut down without blocking the event loop: every session refuses new
   * requests at once; then, a slice at a time, each is closed with `code` once
   * the requests it had already received are answered.
   */
  async drainSessions(code: number, reason: string): Promise<void> {
    const sessions = [...this.sessions.values()];
    for (const session of sessions) session.draining = true;
    for (let i = 0; i < sessions.length; i += DRAIN_SLICE) {
      for (const session of sessions.slice(i, i + DRAIN_SLICE)) {
        void session.whenIdle().then(() => session.close(code, reason));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Drop every session left, a slice at a time. */
  async terminateAll(reason: string): Promise<void> {
    const sessions = [...this.sessions.values()];
    for (let i = 0; i < sessions.length; i += DRAIN_SLICE) {
      for (const session of sessions.slice(i, i + DRAIN_SLICE)) session.terminate(reason);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Application code is a guest: a hook that throws is logged, never fatal. */
  private callHook(name: string, session: Session, call: () => unknown): void {
    try {
      const result = call();
      if (result instanceof Promise) result.catch((error: unknown) => this.logger.error({ err: error, client: session.id }, `${name} hook failed`));
    } catch (error) {
      this.logger.error({ err: error, client: session.id }, `${name} hook failed`);
    }
  }

  /** Close the sessions of a user or a single client (the HTTP API's disconnect). */
  disconnect(match: { user?: string; client?: string }, code: number, reason: string): number {
    let count = 0;
    for (const session of this.sessions.values()) {
      const hit = match.client !== undefined ? session.id === match.client : session.user === match.user;
      if (hit && !session.closed) {
        session.close(code, reason);
        count++;
      }
    }
    return count;
  }
}

/** Reads whose reply can be as large as limits.maxReplyBytes. */
function isRead(frame: ClientFrame): boolean {
  return frame.type === 'history' || frame.type === 'presence';
}

function connectionInfo(session: Session): ConnectionInfo {
  return { client: session.id, user: session.user, ip: session.ip };
}
