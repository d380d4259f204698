// The transport-free heart of a server: it is handed connections that passed
// the handshake, and their frames, pongs and closes. It owns the sessions, the
// hub, request dispatch and heartbeats. Nothing here knows about HTTP or `ws`.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker } from '../brokers/broker.js';
import type { Codec } from '../protocol/codec.js';
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
  readonly rpc = new RpcRegistry();
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
    this.namespaces = new Namespaces(config.namespaces);
    this.verifier = new TokenVerifier(config);
    this.hub = new Hub(broker, this.namespaces);
    this.dispatcher = new Dispatcher(this.hub, this.namespaces, this.rpc, this.verifier, logger);
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
    const session = new Session(randomUUID(), params.identity, params.codec, transport, limits, params.ip);
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
        },
      },
    });
    session.scheduleExpiry();
    this.logger.info({ client: session.id, user: session.user, ip: session.ip, protocol: params.codec.subprotocol }, 'connect');
    this.hooks.onConnect?.(connectionInfo(session));
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
    if (verdict === 'limit') {
      session.fail(parsed.frame.id, 'rate_limited', 'message rate over its limit; slow down');
      return;
    }
    void this.dispatcher.handle(session, parsed.frame);
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
    this.hooks.onDisconnect?.(connectionInfo(session), code, reason);
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

  /** Close every session with `code` (1001 on shutdown). */
  closeAll(code: number, reason: string): void {
    for (const session of this.sessions.values()) session.close(code, reason);
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

function connectionInfo(session: Session): ConnectionInfo {
  return { client: session.id, user: session.user, ip: session.ip };
}
