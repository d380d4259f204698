// The transport-free heart of a server: it is handed connections that passed
// the handshake, and their frames, pongs and closes. It owns the sessions, the
// hub, request dispatch and heartbeats. Nothing here knows about HTTP or `ws`.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, NodeRecord } from '../brokers/broker.js';
import { BrokerWatch } from './broker-watch.js';
import { Tally, type Traffic } from './tally.js';
import { TimedBroker } from './timed-broker.js';
import { VERSION } from './version.js';
import { jsonCodec, type Codec } from '../protocol/codec.js';
import type { ClientFrame, WelcomeFrame } from '../protocol/frames.js';
import { Control, CONTROL_CHANNEL, type Command, type Target } from './control.js';
import { CloseCode, SwitchboardError } from '../protocol/codes.js';
import type { Identity } from './auth.js';
import { TokenVerifier } from './auth.js';
import type { Config } from './config.js';
import { Dispatcher } from './dispatch.js';
import { parseBinaryFrame, parseTextFrame } from './envelope.js';
import { Heartbeat } from './heartbeat.js';
import { Hooks, type ClientContext } from './hooks.js';
import { Hub } from './hub.js';
import { LimitHits } from './limit-hits.js';
import { loggable } from './logger.js';
import { Namespaces } from './namespaces.js';
import { OutboundBudget } from './outbound-budget.js';
import { RateMeter } from './rate-meter.js';
import { RecentDisconnects } from './recent-disconnects.js';
import { RpcRegistry } from './rpc.js';
import { Session } from './session.js';
import type { Transport } from './transport.js';

/** Sessions closed per turn of the event loop during a drain. */
const DRAIN_SLICE = 500;
/**
 * How many of its busiest channels and newest disconnects a node puts in its
 * lease, for the cluster views of /api/channels and /api/disconnects: enough
 * for a dashboard, small enough to rewrite every nodeTtl / 4.
 */
export const LEASE_LIST_SIZE = 20;

/** Who a connection is, as hooks and listeners see it. */
export type ConnectionInfo = ClientContext;

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
  readonly hooks: Hooks;
  private readonly dispatcher: Dispatcher;
  /** Commands that reach every node (server-side subscribe, unsubscribe, disconnect). */
  readonly control: Control;
  private readonly heartbeat: Heartbeat;
  /** The node's bound on bytes queued for clients, all together. */
  readonly outbound: OutboundBudget;
  /** Frames received, publications and deliveries per second, for /api/stats. */
  readonly rates = new RateMeter(() => ({
    received: this.counters.received,
    publications: this.hub.stats.publications,
    delivered: this.hub.stats.delivered,
  }));
  readonly counters = { received: 0, bytesIn: 0, rateLimited: 0, badRequests: 0 };
  /** Frames and bytes sent, added to by every session. */
  readonly traffic: Traffic = { framesOut: 0, bytesOut: 0 };
  /** Open connections by subprotocol. */
  readonly bySubprotocol = new Map<string, number>();
  /** Closed connections by close code and by who closed ('server' or 'client'). */
  readonly closes = new Tally();
  /** This node's last 100 disconnects, for the admin view. */
  readonly recentDisconnects = new RecentDisconnects(100);
  /** Refused handshakes by HTTP status and error code (the server counts them). */
  readonly refusals = new Tally();
  /** The broker as the hub uses it: timed, for /metrics. */
  readonly timedBroker: TimedBroker;
  readonly brokerWatch: BrokerWatch;
  readonly startedAt = Date.now();
  /** Where this node listens (host:port), once it does; null when attached to another server. */
  address: string | null = null;
  /** Each bound a client ran into, for /metrics. */
  readonly limitHits = new LimitHits();
  private emptyWaiters: Array<() => void> = [];
  /** The JSON welcome after its `user`, the same for every client. */
  private welcomeTail: string | null = null;
  /** Subscriptions of closed sessions still being removed (presence, leave events). */
  private readonly cleanups = new Set<Promise<void>>();

  constructor(
    readonly config: Config,
    readonly broker: Broker,
    readonly logger: Logger,
    /** The clock of rate limits; tests of the core pass their own. */
    private readonly clock: () => number = Date.now,
  ) {
    this.rpc = new RpcRegistry(config.rpcTimeout);
    this.hooks = new Hooks(config.hookTimeout);
    this.namespaces = new Namespaces(config.namespaces);
    this.verifier = new TokenVerifier(config);
    this.timedBroker = new TimedBroker(broker);
    this.brokerWatch = new BrokerWatch(broker, logger);
    this.hub = new Hub(this.timedBroker, this.namespaces, config.limits, this.limitHits, config.idempotencyWindow, (error, what) =>
      this.logger.warn({ err: loggable(error) }, `${what} failed`),
    );
    this.dispatcher = new Dispatcher(this.hub, this.namespaces, this.rpc, this.verifier, logger, config.limits.maxReplyBytes, this.hooks);
    this.control = new Control(broker, this.nodeId, (command) => this.applyControl(command), config.brokerTimeout, (error) =>
      this.logger.warn({ err: loggable(error) }, 'control command failed'),
    );
    this.outbound = new OutboundBudget(() => this.sessions.values(), config.limits.outboundBytes, this.limitHits);
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
    await this.broker.start((channel, event) =>
      channel === CONTROL_CHANNEL ? this.control.onEvent(event) : this.hub.onBrokerEvent(channel, event),
    );
    await this.control.start();
    this.heartbeat.start();
    this.outbound.start();
    this.rates.start();
    this.brokerWatch.start();
  }

  /**
   * Register this node in the broker, with a lease renewed until stop()
   * (docs/scaling.md, "Nodes and ghosts"). After start, once the address is known.
   */
  async joinCluster(): Promise<void> {
    await this.broker.registerNode({
      describe: () => this.nodeRecord(),
      onOrphans: (channel, entries, left) => {
        this.logger.info({ channel, clients: entries.length }, 'removed presence of a dead node');
        this.hub.announceOrphans(channel, entries, left).catch((error: unknown) => {
          this.logger.warn({ err: error, channel }, 'leave events for a dead node failed');
        });
      },
      ttl: this.config.nodeTtl,
    });
  }

  /** What this node says about itself in its lease and in /api/stats (docs/protocol.md, "HTTP API"). */
  nodeRecord(): NodeRecord {
    return {
      node: this.nodeId,
      address: this.address,
      // Workers of one `serve --workers` share an address: the pid tells them apart.
      pid: process.pid,
      version: VERSION,
      startedAt: new Date(this.startedAt).toISOString(),
      broker: this.broker.name,
      connections: this.sessions.size,
      subscriptions: this.hub.stats.subscriptions,
      channels: this.hub.localChannelCount(),
      messages: {
        received: this.counters.received,
        publications: this.hub.stats.publications,
        delivered: this.hub.stats.delivered,
      },
      /** Per second, over the last 10 seconds. */
      rates: this.rates.rates(),
      uptime: Math.round((Date.now() - this.startedAt) / 1000),
      busiest: this.hub.busiestChannels(LEASE_LIST_SIZE),
      disconnects: this.recentDisconnects.newest(LEASE_LIST_SIZE),
    };
  }

  async stop(): Promise<void> {
    this.heartbeat.stop();
    this.outbound.stop();
    this.rates.stop();
    this.brokerWatch.stop();
    // Let departed clients leave presence before the broker goes.
    await Promise.all(this.cleanups);
    await this.broker.close();
  }

  /**
   * A connection passed the handshake. Connect hooks decide first; until they
   * have, its frames wait. A refusal closes it with the code its error maps to
   * (docs/protocol.md "Hooks"); then it is greeted.
   */
  open(transport: Transport, params: OpenParams): Session {
    const session = new Session(randomUUID(), params.identity, params.codec, transport, this.config.limits, params.ip, this.limitHits, this.traffic, this.clock);
    this.sessions.set(session.id, session);
    const protocol = params.codec.subprotocol;
    this.bySubprotocol.set(protocol, (this.bySubprotocol.get(protocol) ?? 0) + 1);
    // Debug, not info: at thousands of connects a second a line each costs more than the handshake.
    this.logger.debug({ client: session.id, user: session.user, ip: session.ip, protocol: params.codec.subprotocol }, 'connect');
    if (this.hooks.connect.length === 0) {
      this.greet(session);
    } else {
      session.ready = false;
      this.runConnectHooks(session).then(
        () => this.greet(session),
        (error: unknown) => this.refuseConnection(session, error),
      );
    }
    return session;
  }

  private async runConnectHooks(session: Session): Promise<void> {
    const client = session.context();
    for (const hook of this.hooks.connect) {
      if (session.closed) return;
      await this.hooks.run('connect', () => hook(client));
    }
  }

  private refuseConnection(session: Session, error: unknown): void {
    if (error instanceof SwitchboardError && error.code !== 'internal' && error.code !== 'timeout') {
      this.logger.info({ client: session.id, code: error.code }, 'connect refused by a hook');
      session.close(error.code === 'unauthorized' ? CloseCode.TokenExpired : CloseCode.Disconnected, error.message);
    } else {
      this.logger.error({ err: loggable(error), client: session.id }, 'connect hook failed');
      session.close(CloseCode.InternalError, 'internal error');
    }
  }

  private greet(session: Session): void {
    if (session.closed) return;
    session.ready = true;
    if (session.codec === jsonCodec) {
      // Only the client and user differ from one welcome to the next: the rest is encoded once.
      this.welcomeTail ??= JSON.stringify(this.welcome('', null).payload).replace(/^\{"client":"","user":null/, '');
      session.sendEncoded(`{"type":"welcome","payload":{"client":${JSON.stringify(session.id)},"user":${JSON.stringify(session.user)}${this.welcomeTail}}`);
    } else {
      session.send(this.welcome(session.id, session.user));
    }
    session.scheduleExpiry();
    this.pump(session);
  }

  /** The welcome frame (docs/protocol.md, "Connecting"). */
  welcome(client: string, user: string | null): WelcomeFrame {
    const { limits, heartbeat } = this.config;
    return {
      type: 'welcome',
      payload: {
        client,
        user,
        server: this.nodeId,
        heartbeat: { interval: heartbeat.interval, timeout: heartbeat.timeout },
        limits: {
          maxPayload: limits.maxPayload,
          rate: { messagesPerSecond: limits.messagesPerSecond, burst: limits.burst },
          idempotencyWindow: this.config.idempotencyWindow,
        },
      },
    };
  }

  /** One frame arrived. */
  message(session: Session, data: Buffer, isBinary: boolean): void {
    session.lastSeen = Date.now();
    if (session.closed) return;
    this.counters.received++;
    this.counters.bytesIn += data.length;
    if (isBinary !== session.codec.binary) {
      session.close(CloseCode.UnsupportedData, isBinary ? 'binary frames are not accepted on switchboard.v1.json' : 'text frames are not accepted on this subprotocol');
      return;
    }
    const verdict = session.takeRate(data.length);
    if (verdict !== 'allow') {
      this.counters.rateLimited++;
      if (verdict === 'close') {
        session.close(CloseCode.RateLimited, 'message or byte rate over its limit');
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
      session.fail(frame.id, 'rate_limited', 'message or byte rate over its limit; slow down');
      return;
    }
    if (frame.type === 'ping') {
      // Holds nothing and must not wait behind slow requests: the heartbeat depends on it.
      if (session.codec === jsonCodec) session.sendEncoded(frame.id === undefined ? '{"type":"pong"}' : `{"type":"pong","id":${JSON.stringify(frame.id)}}`);
      else session.send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
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
    // Nothing waiting and room for it: run it now (no parking, no allocation).
    if (session.parked.length === 0 && session.ready && session.inflight < this.config.limits.requestsInFlight) {
      const heavy = isRead(frame);
      if (!heavy || session.readsInFlight === 0) {
        this.run(session, frame, heavy);
        return;
      }
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
    while (session.ready && !session.closed && session.parked.length > 0 && session.inflight < cap) {
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
    // Who closed: this server when it gave a code (or cut the connection), else the client or the network.
    const by = session.closeCode !== null ? 'server' : 'client';
    session.markClosed();
    this.closes.inc([closeCodeLabel(code, by), by]);
    const protocol = session.codec.subprotocol;
    this.bySubprotocol.set(protocol, (this.bySubprotocol.get(protocol) ?? 1) - 1);
    this.logger.debug({ client: session.id, user: session.user, code, reason }, 'disconnect');
    this.recentDisconnects.add({ at: new Date().toISOString(), node: this.nodeId, client: session.id, user: session.user, code, reason, by });
    const cleanup = this.hub.removeSession(session).catch((error: unknown) => {
      this.logger.warn({ err: error, client: session.id }, 'cleanup after disconnect failed');
    });
    this.cleanups.add(cleanup);
    void cleanup.finally(() => this.cleanups.delete(cleanup));
    // Listeners hear of connections they were told of: not of one a connect hook refused.
    if (session.ready) this.notifyDisconnect(session, code, reason);
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

  /** A publication by the server (the library or the HTTP API): allowed on every namespace, without a `from`. */
  publish(channel: string, payload: unknown, options: { idempotencyKey?: string } = {}): Promise<number | null> {
    return this.hub.publish(channel, payload, undefined, this.namespaces.resolve(channel), options);
  }

  /** Close this node's sessions of a user or a single client; how many. */
  disconnectLocal(target: Target, code: number, reason: string): number {
    let count = 0;
    for (const session of this.matching(target)) {
      session.close(code, reason);
      count++;
    }
    return count;
  }

  /** Apply a control command to this node's sessions; how many it touched. */
  private async applyControl(command: Command): Promise<number> {
    const sessions = this.matching(command.target);
    if (command.op === 'disconnect') {
      for (const session of sessions) session.close(command.code, command.reason);
      return sessions.length;
    }
    const { channel } = command;
    const touched = await Promise.all(
      sessions.map(async (session) => {
        try {
          if (command.op === 'unsubscribe') {
            if (!session.subscriptions.has(channel)) return 0;
            await this.hub.unsubscribe(session, channel);
            session.send({ type: 'unsubscribed', channel });
            return 1;
          }
          if (session.subscriptions.has(channel)) return 0;
          await this.hub.subscribe(session, channel, undefined, (result) => session.send({ type: 'subscribed', ...result }), { byServer: true });
          return 1;
        } catch (error) {
          this.logger.warn({ err: loggable(error), client: session.id, channel }, `server-side ${command.op} failed`);
          return 0;
        }
      }),
    );
    return touched.reduce<number>((sum, n) => sum + n, 0);
  }

  /** This node's open sessions of a user or a single client. */
  matching(target: Target): Session[] {
    if ('client' in target) {
      const session = this.sessions.get(target.client);
      return session && !session.closed && session.ready ? [session] : [];
    }
    return [...this.sessions.values()].filter((s) => s.user === target.user && !s.closed && s.ready);
  }

  /** Disconnect listeners: each runs whatever the others do; a failure is logged, never fatal. */
  private notifyDisconnect(session: Session, code: number, reason: string): void {
    const client = session.context();
    for (const hook of this.hooks.disconnect) {
      this.hooks.run('disconnect', () => hook(client, code, reason)).catch((error: unknown) => {
        this.logger.error({ err: loggable(error), client: session.id }, 'disconnect hook failed');
      });
    }
  }
}

const KNOWN_CLOSE_CODES = new Set<number>(Object.values(CloseCode));

/**
 * The close code as a metric label. A client may close with any code from
 * 3000 to 4999: those Switchboard does not define count as "other", so that
 * clients cannot make up label values. Below 3000 the set is fixed by RFC 6455.
 */
function closeCodeLabel(code: number, by: 'server' | 'client'): string {
  return by === 'server' || code < 3000 || KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/** Reads whose reply can be as large as limits.maxReplyBytes. */
function isRead(frame: ClientFrame): boolean {
  return frame.type === 'history' || frame.type === 'presence';
}


