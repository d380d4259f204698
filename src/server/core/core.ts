// The transport-free heart of a server, behind one door: it is handed
// connections that passed the handshake (open), their frames, pongs and closes,
// and is started, drained and stopped. Everything an application, the HTTP
// API or a test may ask of it goes through `operations`. It owns the sessions,
// the hub, request dispatch and heartbeats; nothing here knows about HTTP or `ws`.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, Revocation } from '../../brokers/broker.js';
import { jsonCodec, type Codec } from '../../protocol/codec.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import type { ClientRequest, WelcomeFrame } from '../../protocol/frames.js';
import type { NodeStats } from '../../protocol/stats.js';
import type { Identity, TokenVerifier } from '../auth.js';
import type { Config } from '../config.js';
import type { LimitHits } from '../limit-hits.js';
import { loggable } from '../logger.js';
import { VERSION } from '../version.js';
import { BrokerWatch } from './broker-watch.js';
import { Control, CONTROL_CHANNEL, type Command, type Target } from './control.js';
import { Dispatcher } from './dispatch.js';
import { parseBinaryFrame, parseTextFrame } from './envelope.js';
import { Heartbeat } from './heartbeat.js';
import { DisconnectError, HookChain } from './hooks.js';
import type { Lifecycle } from './lifecycle.js';
import { Mailbox } from './mailbox.js';
import { Hub } from './hub.js';
import { Namespaces } from './namespaces.js';
import { LEASE_LIST_SIZE, Operations, type CoreTelemetry } from './operations.js';
import { OutboundBudget } from './outbound-budget.js';
import { RateMeter } from './rate-meter.js';
import { RecentDisconnects } from './recent-disconnects.js';
import { RpcRegistry } from './rpc.js';
import { Session } from './session.js';
import { Tally, type Traffic } from '../tally.js';
import { TimedBroker } from './timed-broker.js';
import type { Transport } from './transport.js';
import { UserIndex } from './user-index.js';

/** A refresh with no answer (backend down) is asked again this much later. */
const REFRESH_RETRY_MS = 5_000;

/** Sessions closed per turn of the event loop during a drain, at the most. */
const DRAIN_SLICE = 500;
/** A paced drain closes a batch at most this often, ms. */
const DRAIN_TICK_MS = 50;

/** How the core closes its sessions on shutdown (Core.drain). */
export interface DrainOptions {
  /** The close code: 1012 from a server's drain. */
  code: number;
  /** Each session's close reason, asked for as it closes (a retry hint). */
  reason: () => string;
  /** The batches are spread over this many ms. */
  windowMs: number;
  /** After the last batch, how long sessions get to finish before they are cut off. */
  graceMs: number;
}

export interface OpenParams {
  identity: Identity;
  codec: Codec;
  ip: string;
  /** The transport's name, a metric label and no more ("websocket" when not given): the core treats every transport alike. */
  transport?: string;
  /** The connection's id when the handshake already gave it one (an authenticateWithoutToken hook was told it). */
  client?: string;
  /** The handshake's headers named in proxy.headers, lower-case. */
  headers?: Readonly<Record<string, string>>;
  /** Close at once with this code instead of greeting (a hook's `disconnect` answer before the upgrade). */
  close?: { code: number; reason: string };
}

/** A connection as the transport holds it: handed back to the core with each of its events. */
export interface Connection {
  readonly id: string;
}

/** What the core is built from; the server facade makes each of them. */
export interface CoreDeps {
  config: Config;
  broker: Broker;
  logger: Logger;
  verifier: TokenVerifier;
  /** Where every bound a client runs into is counted (the server's own too). */
  limitHits: LimitHits;
  /** The clock of rate limits; tests of the core pass their own. */
  clock?: () => number;
  /** Told of connections and subscriptions (webhooks, the per-user limit). */
  lifecycle?: Lifecycle;
}

export class Core {
  /** Everything outside the core may ask of it: the application, the HTTP API, `serve`, the tests. */
  readonly operations: Operations;
  private readonly config: Config;
  private readonly broker: Broker;
  private readonly logger: Logger;
  private readonly limitHits: LimitHits;
  private readonly clock: () => number;
  private readonly nodeId = randomUUID();
  private readonly sessions = new Map<string, Session>();
  /** From the start of a drain on a broker that is not durable: publishes are refused `unavailable`. */
  private refusingPublishes = false;
  /** user -> that user's sessions here, for commands aimed at a user. */
  private readonly users = new UserIndex();
  private readonly namespaces: Namespaces;
  private readonly hub: Hub;
  private readonly rpc: RpcRegistry;
  private readonly hooks: HookChain;
  private readonly dispatcher: Dispatcher;
  /** Commands that reach every node (server-side subscribe, unsubscribe, disconnect). */
  private readonly control: Control;
  /** Messages addressed to this node alone (HTTP-stream requests forwarded from another node). */
  readonly mailbox: Mailbox;
  private readonly heartbeat: Heartbeat;
  /** The node's bound on bytes queued for clients, all together. */
  private readonly outbound: OutboundBudget;
  /** Frames received, publications and deliveries per second, for /api/stats. */
  private readonly rates = new RateMeter(() => ({
    received: this.counters.received,
    publications: this.hub.stats.publications,
    delivered: this.hub.stats.delivered,
  }));
  private readonly counters = { received: 0, bytesIn: 0, rateLimited: 0, badRequests: 0 };
  /** Frames and bytes sent, added to by every session. */
  private readonly traffic: Traffic = { framesOut: 0, bytesOut: 0 };
  /** Open connections by subprotocol and transport. */
  private readonly openConnections = new Tally();
  /** Closed connections by close code and by who closed ('server' or 'client'). */
  private readonly closes = new Tally();
  /** This node's last 100 disconnects, for the admin view. */
  private readonly recentDisconnects = new RecentDisconnects(100);
  /** The broker as the hub uses it: timed, for /metrics. */
  private readonly timedBroker: TimedBroker;
  private readonly brokerWatch: BrokerWatch;
  private readonly startedAt = Date.now();
  /** Where this node listens (host:port), once it does; null when attached to another server. */
  private address: string | null = null;
  private emptyWaiters: Array<() => void> = [];
  /** The JSON welcome after its `user`, the same for every client. */
  private welcomeTail: string | null = null;
  /** Subscriptions of closed sessions still being removed (presence, leave events). */
  private readonly cleanups = new Set<Promise<void>>();

  private readonly lifecycle: Lifecycle | null;

  constructor({ config, broker, logger, verifier, limitHits, clock = Date.now, lifecycle }: CoreDeps) {
    this.lifecycle = lifecycle ?? null;
    this.config = config;
    this.broker = broker;
    this.logger = logger;
    this.limitHits = limitHits;
    this.clock = clock;
    this.rpc = new RpcRegistry(config.rpcTimeout);
    this.hooks = new HookChain(config.hookTimeout);
    this.namespaces = new Namespaces(config.namespaces);
    this.timedBroker = new TimedBroker(broker);
    this.brokerWatch = new BrokerWatch(broker, logger);
    this.hub = new Hub(this.timedBroker, this.namespaces, config.limits, limitHits, config.idempotencyWindow, (error, what) =>
      this.logger.warn({ err: loggable(error) }, `${what} failed`),
    );
    this.hub.lifecycle = this.lifecycle;
    this.dispatcher = new Dispatcher(this.hub, this.namespaces, this.rpc, verifier, logger, config.limits.maxReplyBytes, this.hooks);
    this.control = new Control(
      broker,
      this.nodeId,
      (command) => this.applyControl(command),
      config.brokerTimeout,
      (error) => this.logger.warn({ err: loggable(error) }, 'control command failed'),
    );
    this.mailbox = new Mailbox(broker, this.nodeId);
    this.outbound = new OutboundBudget(() => this.sessions.values(), config.limits.outboundBytes, limitHits);
    this.heartbeat = new Heartbeat(
      () => this.sessions.values(),
      config.heartbeat.interval,
      config.heartbeat.timeout,
      (session) => {
        this.logger.debug({ client: session.id }, 'heartbeat timeout');
        session.terminate('heartbeat timeout');
      },
    );
    this.operations = new Operations({
      nodeId: this.nodeId,
      config,
      broker: this.timedBroker,
      hub: this.hub,
      namespaces: this.namespaces,
      control: this.control,
      rpc: this.rpc,
      hooks: this.hooks,
      recentDisconnects: this.recentDisconnects,
      sessions: this.sessions,
      telemetry: this.telemetry(),
      limitHits,
      stats: () => this.stats(),
    });
  }

  private telemetry(): CoreTelemetry {
    return {
      counters: this.counters,
      traffic: this.traffic,
      closes: this.closes,
      tallies: this.hub.tallies,
      connections: this.openConnections,
      outboundBytes: () => this.outbound.total,
      channels: () => this.hub.localChannelCount(),
      subscriptions: () => this.hub.stats.subscriptions,
      brokerOutages: () => this.brokerWatch.outages,
      observeRpc: (observer) => (this.rpc.observer = observer),
      observeBroker: (observer) => (this.timedBroker.observer = observer),
    };
  }

  async start(): Promise<void> {
    const mailbox = this.mailbox.channel;
    await this.broker.start((channel, event) => {
      if (channel === CONTROL_CHANNEL) this.control.onEvent(event);
      else if (channel === mailbox) this.mailbox.onEvent(event);
      else this.hub.onBrokerEvent(channel, event);
    });
    await this.control.start();
    await this.mailbox.start();
    this.heartbeat.start();
    this.outbound.start();
    this.rates.start();
    this.brokerWatch.start();
  }

  /**
   * Register this node in the broker, with a lease renewed until stop()
   * (docs/scaling.md, "Nodes and ghosts"). After start, once the address
   * where it serves is known (null when attached to an application's server).
   */
  async announce(address: string | null): Promise<void> {
    this.address = address;
    await this.broker.registerNode({
      describe: () => this.stats(),
      onOrphans: (channel, entries, left) => {
        this.logger.info({ channel, clients: entries.length }, 'removed presence of a dead node');
        this.hub.announceOrphans(channel, entries, left).catch((error: unknown) => {
          this.logger.warn({ err: error, channel }, 'leave events for a dead node failed');
        });
        this.lifecycle?.orphaned(channel, entries).catch((error: unknown) => {
          this.logger.warn({ err: loggable(error), channel }, 'presence.leave webhooks for a dead node failed');
        });
      },
      ttl: this.config.nodeTtl,
    });
  }

  /** What this node says about itself in its lease and in /api/stats (docs/protocol.md, "HTTP API"). */
  private stats(): NodeStats {
    return {
      node: this.nodeId,
      address: this.address,
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
  open(transport: Transport, params: OpenParams): Connection {
    const session = new Session(
      params.client ?? randomUUID(),
      params.identity,
      params.codec,
      transport,
      this.config.limits,
      params.ip,
      this.limitHits,
      this.traffic,
      this.clock,
    );
    if (params.headers) session.headers = params.headers;
    if (params.identity.byHook && this.hooks.has('refresh')) session.onExpiry = () => this.refresh(session);
    this.sessions.set(session.id, session);
    this.users.add(session);
    session.transportName = params.transport ?? 'websocket';
    this.openConnections.inc([params.codec.subprotocol, session.transportName]);
    // Debug, not info: at thousands of connects a second a line each costs more than the handshake.
    this.logger.debug({ client: session.id, user: session.user, ip: session.ip, protocol: params.codec.subprotocol }, 'connect');
    if (params.close) {
      session.ready = false;
      session.close(params.close.code, params.close.reason);
    } else if (!this.hooks.has('connect') && !this.lifecycle) {
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
    if (this.hooks.has('connect')) await this.hooks.connect(session.context(), () => !session.closed);
    if (!this.lifecycle || session.closed) return;
    // From here the lifecycle hears of this connection's end, whatever happens next.
    session.told = true;
    await this.lifecycle.connected(session.context());
  }

  private refuseConnection(session: Session, error: unknown): void {
    if (error instanceof DisconnectError) {
      this.logger.info({ client: session.id, code: error.code }, 'connection closed by a connect hook');
      session.close(error.code, error.reason);
    } else if (error instanceof SwitchboardError && error.code !== 'internal' && error.code !== 'timeout') {
      this.logger.info({ client: session.id, code: error.code }, 'connect refused by a hook');
      session.close(refusalCloseCode(error), error.message);
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
    for (const channel of session.identity.subscriptions ?? []) void this.subscribeByServer(session, channel);
    this.pump(session);
  }

  /**
   * At the expiry a hook gave: the refresh hooks extend it, say it expired
   * (4001), or close with their code. No answer (a backend down or slow) keeps
   * the connection and asks again after REFRESH_RETRY_MS (docs/backend.md, "refresh").
   */
  private refresh(session: Session): void {
    this.hooks.refresh(session.context()).then(
      (answer) => {
        if (session.closed) return;
        const next = answer?.expiresAt ?? null;
        // An expiry already past would ask again at once, for ever: it is an expired connection.
        if (answer === null || answer.expired === true || (next !== null && next * 1000 <= Date.now())) {
          session.close(CloseCode.TokenExpired, 'connection expired');
          return;
        }
        session.identity = { ...session.identity, expiresAt: next };
        session.scheduleExpiry();
      },
      (error: unknown) => {
        if (session.closed) return;
        if (error instanceof DisconnectError) {
          session.close(error.code, error.reason);
        } else if (error instanceof SwitchboardError && (error.code === 'unavailable' || error.code === 'timeout' || error.code === 'internal')) {
          this.logger.warn({ client: session.id, code: error.code }, 'refresh failed; asking again later');
          session.identity = { ...session.identity, expiresAt: Math.floor(Date.now() / 1000) + REFRESH_RETRY_MS / 1000 };
          session.scheduleExpiry();
        } else {
          session.close(CloseCode.TokenExpired, error instanceof SwitchboardError ? error.message : 'refresh refused');
        }
      },
    );
  }

  /** The server's own subscription (a control command, or a hook's at connect): the namespace must exist, its rules do not apply. */
  private async subscribeByServer(session: Session, channel: string): Promise<number> {
    try {
      if (session.closed || session.subscriptions.has(channel)) return 0;
      const namespace = this.namespaces.resolve(channel);
      await this.hub.subscribe(session, channel, namespace, undefined, (result) => session.send({ type: 'subscribed', ...result }));
      return 1;
    } catch (error) {
      this.logger.warn({ err: loggable(error), client: session.id, channel }, 'server-side subscribe failed');
      return 0;
    }
  }

  /** The welcome frame (docs/protocol.md, "Connecting"). */
  private welcome(client: string, user: string | null): WelcomeFrame {
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
  message(connection: Connection, data: Buffer, isBinary: boolean): void {
    const session = connection as Session;
    session.lastSeen = Date.now();
    if (session.closed) return;
    this.counters.received++;
    this.counters.bytesIn += data.length;
    if (isBinary !== session.codec.binary) {
      session.close(
        CloseCode.UnsupportedData,
        isBinary ? 'binary frames are not accepted on switchboard.v1.json' : 'text frames are not accepted on this subprotocol',
      );
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
    if (frame.type === 'publish' && this.refusingPublishes) {
      session.fail(frame.id, 'unavailable', 'server is restarting and its history goes with it; publish again after reconnecting');
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

  private run(session: Session, frame: ClientRequest, heavy: boolean): void {
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

  pong(connection: Connection): void {
    (connection as Session).lastSeen = Date.now();
  }

  /** The transport closed, for whatever reason. */
  closed(connection: Connection, peerCode: number, peerReason: string): void {
    const session = connection as Session;
    if (!this.sessions.delete(session.id)) return;
    this.users.remove(session);
    // A slow or vanished peer never answers our close frame (ws reports 1006):
    // what the logs and hooks need is the code and reason this server gave.
    const code = session.closeCode ?? peerCode;
    const reason = session.closeReason !== null && peerCode === 1006 ? session.closeReason : peerReason;
    // Who closed: this server when it gave a code (or cut the connection), else the client or the network.
    const by = session.closeCode !== null ? 'server' : 'client';
    session.markClosed();
    this.closes.inc([closeCodeLabel(code, by), by]);
    this.openConnections.inc([session.codec.subprotocol, session.transportName], -1);
    this.logger.debug({ client: session.id, user: session.user, code, reason }, 'disconnect');
    this.recentDisconnects.add({ at: new Date().toISOString(), node: this.nodeId, client: session.id, user: session.user, code, reason, by });
    const cleanup = this.hub.removeSession(session).catch((error: unknown) => {
      this.logger.warn({ err: error, client: session.id }, 'cleanup after disconnect failed');
    });
    this.cleanups.add(cleanup);
    void cleanup.finally(() => this.cleanups.delete(cleanup));
    // Listeners hear of connections they were told of: not of one a connect hook refused.
    if (session.ready) this.notifyDisconnect(session, code, reason);
    if (session.told) {
      // After the subscriptions are gone, so that a user's events stay in order.
      const told = cleanup.then(() => this.lifecycle!.disconnected(session.context(), code, reason));
      const logged = told.catch((error: unknown) => this.logger.warn({ err: loggable(error), client: session.id }, 'disconnect webhooks failed'));
      this.cleanups.add(logged);
      void logged.finally(() => this.cleanups.delete(logged));
    }
    if (this.sessions.size === 0) for (const wake of this.emptyWaiters.splice(0)) wake();
  }

  /**
   * Shut down, paced, without blocking the event loop: the sessions are
   * closed in batches spread over `windowMs`, one every DRAIN_TICK_MS. Until its batch
   * a session works as before; from its batch on it refuses new requests, and
   * it is closed with `code` and a fresh `reason()` once the requests it had
   * already received are answered. Those still open `graceMs` after the last
   * batch are dropped, a slice at a time.
   */
  async drain({ code, reason, windowMs, graceMs }: DrainOptions): Promise<void> {
    const sessions = [...this.sessions.values()];
    // What this node stores dies with it: a publication taken now could reach no one.
    this.refusingPublishes = !this.broker.durable;
    const batches = Math.max(1, Math.ceil(windowMs / DRAIN_TICK_MS));
    const size = Math.ceil(sessions.length / batches);
    const started = Date.now();
    for (let batch = 0; batch < batches; batch++) {
      const wait = started + (batch * windowMs) / batches - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const end = Math.min(sessions.length, (batch + 1) * size);
      for (let i = batch * size; i < end; i++) {
        const session = sessions[i]!;
        if (session.closed) continue;
        session.draining = true;
        void session.whenIdle().then(() => session.close(code, reason()));
        // A batch larger than a slice (a window too short for the node) yields between slices.
        if ((i + 1 - batch * size) % DRAIN_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }
    if (await this.whenEmpty(graceMs)) return;
    const left = [...this.sessions.values()];
    for (let i = 0; i < left.length; i += DRAIN_SLICE) {
      for (const session of left.slice(i, i + DRAIN_SLICE)) session.terminate('drain grace period over');
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Resolves true once no session is left, or false after `timeoutMs`. */
  private whenEmpty(timeoutMs: number): Promise<boolean> {
    if (this.sessions.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.emptyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Apply a control command to this node's sessions; how many it touched. */
  private async applyControl(command: Command): Promise<number> {
    if (command.op === 'revoke') {
      const revoked = [...this.sessions.values()].filter((session) => !session.closed && revokes(command.revocation, session.identity));
      for (const session of revoked) session.close(CloseCode.TokenExpired, 'token revoked');
      return revoked.length;
    }
    const sessions = this.matching(command.target);
    if (command.op === 'disconnect') {
      for (const session of sessions) session.close(command.code, command.reason);
      return sessions.length;
    }
    const { channel } = command;
    const touched = await Promise.all(
      sessions.map(async (session) => {
        try {
          if (command.op === 'presence_update') {
            if (!session.subscriptions.has(channel)) return 0;
            await this.hub.updatePresence(session, channel, command.info);
            return 1;
          }
          if (command.op === 'unsubscribe') {
            if (!session.subscriptions.has(channel)) return 0;
            await this.hub.unsubscribe(session, channel);
            session.send({ type: 'unsubscribed', channel });
            return 1;
          }
          return await this.subscribeByServer(session, channel);
        } catch (error) {
          this.logger.warn({ err: loggable(error), client: session.id, channel }, `server-side ${command.op} failed`);
          return 0;
        }
      }),
    );
    return touched.reduce<number>((sum, n) => sum + n, 0);
  }

  /** This node's open sessions of a user or a single client. */
  private matching(target: Target): Session[] {
    if ('client' in target) {
      const session = this.sessions.get(target.client);
      return session && !session.closed && session.ready ? [session] : [];
    }
    return this.users.sessionsOf(target.user).filter((s) => !s.closed && s.ready);
  }

  /** Disconnect listeners: each runs whatever the others do; a failure is logged, never fatal. */
  private notifyDisconnect(session: Session, code: number, reason: string): void {
    this.hooks.disconnect(session.context(), code, reason, (error: unknown) => {
      this.logger.error({ err: loggable(error), client: session.id }, 'disconnect hook failed');
    });
  }
}

const KNOWN_CLOSE_CODES = new Set<number>(Object.values(CloseCode));

/** A refused connection's close code: 4001 for a token, 4029 for a limit (docs/protocol.md, "Per-user connections"), else 4003. */
function refusalCloseCode(error: SwitchboardError): number {
  if (error.code === 'unauthorized') return CloseCode.TokenExpired;
  return error.code === 'rate_limited' ? CloseCode.RateLimited : CloseCode.Disconnected;
}

/**
 * The close code as a metric label. A client may close with any code from
 * 3000 to 4999: those Switchboard does not define count as "other", so that
 * clients cannot make up label values. Below 3000 the set is fixed by RFC 6455.
 */
function closeCodeLabel(code: number, by: 'server' | 'client'): string {
  return by === 'server' || code < 3000 || KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}

/** Whether a revocation covers the token a connection came with (a user's: issued before, or of unknown age). */
function revokes(revocation: Revocation, identity: Identity): boolean {
  if ('jti' in revocation) return identity.jti === revocation.jti;
  if (identity.user !== revocation.user) return false;
  return identity.issuedAt === undefined || identity.issuedAt === null || identity.issuedAt < revocation.before;
}

/** Reads whose reply can be as large as limits.maxReplyBytes. */
function isRead(frame: ClientRequest): boolean {
  return frame.type === 'history' || frame.type === 'presence';
}
