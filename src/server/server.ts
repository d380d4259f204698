// A Switchboard server: config, broker and core wired to Node's HTTP server and
// `ws`. It can own its HTTP server (listen) or join an existing one (attach).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { Broker } from '../brokers/broker.js';
import { jsonCodec, type Codec } from '../protocol/codec.js';
import { msgpackCodec } from '../protocol/msgpack.js';
import { CloseCode } from '../protocol/codes.js';
import type { HistoryResult, PresenceResult, StreamPosition } from '../protocol/frames.js';
import type { AnySchema, AppSchema, ChannelName, ChannelPayload, MethodName, RpcInput, RpcOutput } from '../protocol/schema.js';
import { Admission } from './admission.js';
import { TokenVerifier } from './auth.js';
import { TrustedProxies } from './client-address.js';
import { parseConfig, type Config, type ConfigInput } from './config.js';
import {
  Core,
  type AuthenticateHook,
  type ConnectHook,
  type DisconnectHook,
  type Operations,
  type PresenceUpdateHook,
  type PublishHook,
  type RpcHandler,
  type SchemaOutput,
  type StandardSchema,
  type SubscribeHook,
  type Target,
} from './core/index.js';
import { defaultBroker } from './default-broker.js';
import { perMessageDeflate } from './deflate.js';
import { checkClient, checkUpgrade, isRefusal, refusal, upgradePath, writeRefusal, type Accepted, type HandshakePolicy, type Refusal } from './handshake.js';
import { HandshakeBudget } from './handshake-budget.js';
import { DrainPlan } from './drain-plan.js';
import { retryInReason } from '../protocol/close-reason.js';
import { handleRoute, notFound, requestTarget } from './http/routes.js';
import { parseTarget } from './http/target.js';
import { LimitHits, type LimitName } from './limit-hits.js';
import { createLogger, loggable, type Logger } from './logger.js';
import { ServerMetrics, type MetricsView } from './metrics.js';
import { Webhooks } from './webhooks/webhooks.js';
import type { HttpTransportDeps } from './http/response-transport.js';
import { ssePath, streamPath } from './http/stream-paths.js';
import { ProxyCaller } from './proxy/caller.js';
import { proxyHooks } from './proxy/hooks.js';
import { registerProxyMetrics } from './proxy/metrics.js';

export type { MetricsView } from './metrics.js';
import { bindWebSocket, corkUpgrade } from './ws-transport.js';

export interface ServerOptions extends ConfigInput {
  /** The broker; by default the in-memory one (single node). */
  broker?: Broker;
  /** A pino logger; by default one at SWITCHBOARD_LOG_LEVEL or info, to stdout. */
  logger?: Logger;
  /** @internal What /metrics serves instead of this process's registry: a worker serves the whole cluster's (docs/scaling.md, "Workers"). */
  metricsView?: MetricsView;
}

/** On an accepted upgrade request: the subprotocol for ws's handleProtocols. */
const PROTOCOL = Symbol('switchboard.protocol');
type UpgradeRequest = http.IncomingMessage & { [PROTOCOL]?: string };

/** The http.Server options that bound slow and oversized requests; see httpServerOptions(). */
export interface HttpServerOptions {
  maxHeaderSize: number;
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
}

export class SwitchboardServer<S extends AppSchema = AnySchema> {
  readonly config: Config;
  readonly logger: Logger;
  /**
   * What the server's methods do, and more (each node's figures, a
   * connection's state): the one way to the transport-free core.
   */
  readonly operations: Operations;
  /** The core's connection door: the WebSocket adapter hands it connections. */
  private readonly core: Core;
  private readonly broker: Broker;
  /** Every bound a client ran into, the core's and the handshake's, for /metrics. */
  private readonly limitHits = new LimitHits();
  private readonly admission: Admission;
  /** Event-loop lag and handshakes in flight: past them an upgrade is turned away with 1013. */
  private readonly budget: HandshakeBudget;
  /** Set once the drain begins: the retry hints it gives. */
  private drainPlan: DrainPlan | null = null;
  /** This server's registry, built once it listens (or at the first scrape). */
  private readonly metrics: ServerMetrics;
  private readonly metricsView: MetricsView;
  /** Webhooks and the per-user connection limit (null when neither is configured). */
  private readonly webhooks: Webhooks | null;
  private readonly wss: WebSocketServer;
  private readonly codecs: Codec[] = [jsonCodec, msgpackCodec];
  /** Built once: the upgrade path reads it on every handshake. */
  private readonly policy: HandshakePolicy;
  /** `GET /sse` (streams for a plain EventSource) and `/stream` (the SDK's HTTP-streaming fallback), each loaded at its first request. */
  private readonly endpoints: LazyEndpoint[];
  private readonly proxies: TrustedProxies;
  /** The calls to the application's backend (config `proxy`), when there is one. */
  private readonly proxy: ProxyCaller | null = null;
  /** Names passed to listen(): a Host naming one of them is this server (DNS rebinding, handshake.ts). */
  private readonly listenHosts = new Set<string>();
  private readonly ownServers: http.Server[] = [];
  private draining = false;
  private starting: Promise<void> | null = null;
  private joining: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  /** Where this server listens (host:port), once it does: what its node record says. */
  private address: string | null = null;

  constructor(options: ServerOptions = {}) {
    const { broker, logger, metricsView, ...config } = options;
    this.config = parseConfig(config);
    this.logger = logger ?? createLogger();
    this.broker = broker ?? defaultBroker(this.config);
    const { ledger } = this.broker;
    const verifier = new TokenVerifier({ ...this.config, isRevoked: (user, issuedAt, jti) => ledger.isRevoked(user, issuedAt, jti) });
    this.webhooks = Webhooks.needed(this.config) ? new Webhooks(this.broker, this.config, this.logger) : null;
    const lifecycle = this.webhooks ?? undefined;
    this.core = new Core({ config: this.config, broker: this.broker, logger: this.logger, verifier, limitHits: this.limitHits, lifecycle });
    this.operations = this.core.operations;
    this.admission = new Admission(this.config.limits, this.limitHits, () => this.draining);
    this.budget = new HandshakeBudget(this.config.admission);
    this.metrics = new ServerMetrics({
      telemetry: this.operations.telemetry,
      broker: this.broker,
      limitHits: this.limitHits,
      refusals: this.admission.refusals,
      budget: this.budget,
      webhooks: this.webhooks,
    });
    this.metricsView = metricsView ?? this.metrics;
    const { proxy } = this.config;
    if (proxy) {
      // The backend is asked after every in-process hook, whenever those are registered.
      const caller = (this.proxy = new ProxyCaller(proxy, this.logger, this.config.limits.presenceInfoBytes));
      this.operations.use(proxyHooks(proxy, this.config.namespaces, caller), 'last');
      // Until the registry is built, calls are kept and replayed into the observer it sets.
      caller.observer = (kind, outcome, seconds) => this.metrics.keep(() => caller.observer!(kind, outcome, seconds));
      this.metrics.extend((registry) => registerProxyMetrics(registry, caller));
    }
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.config.limits.maxPayload,
      // ws checks maxPayload against the inflated size, so a deflate bomb closes with 1009.
      perMessageDeflate: this.config.compression ? perMessageDeflate : false,
      clientTracking: false,
      handleProtocols: (_offered, req) => (req as UpgradeRequest)[PROTOCOL] ?? false,
    });
    this.proxies = new TrustedProxies(this.config.trustProxy, this.config.forwardedHeader);
    this.policy = {
      path: this.config.path,
      allowedOrigins: this.config.allowedOrigins,
      listenHosts: this.listenHosts,
      tls: Boolean(this.config.tlsCert),
      codecs: this.codecs,
      verifier,
      requireToken: this.operations.requiresToken,
      admission: (ip) => this.admission.check(ip),
      authenticate: (req) => this.operations.authenticate(req),
      authenticateWithoutToken: (req, client) => this.operations.authenticateWithoutToken(req, client),
      forwardHeaders: proxy?.headers ?? [],
      onHookError: (error) => this.logger.error({ err: loggable(error) }, 'authenticate hook failed'),
      clientAddress: (req) => this.proxies.clientAddress(req),
    };
    const deps: HttpTransportDeps = {
      core: this.core,
      config: this.config,
      policy: this.policy,
      admission: this.admission,
      limitHits: this.limitHits,
      refuse: (req: http.IncomingMessage, res: http.ServerResponse, answer: Refusal) => this.refuseRequest(req, res, answer),
    };
    this.endpoints = [
      lazyEndpoint(ssePath(this.config.path), async () => new (await import('./sse/endpoint.js')).SseEndpoint(deps)),
      lazyEndpoint(streamPath(this.config.path), async () => new (await import('./http-stream/endpoint.js')).HttpStreamEndpoint(deps)),
    ];
  }

  /** The broker's name: memory, redis, redis-sentinel, redis-cluster, ipc. */
  get brokerName(): string {
    return this.broker.name;
  }

  /**
   * Register an RPC method. With a Standard Schema (zod, valibot, arktype...)
   * first, the payload is validated before the handler runs, and the handler's
   * argument is typed by the schema: `rpc('add', z.object({a: z.number()}), ({a}) => a)`.
   */
  rpc<M extends MethodName<S>, Sch extends StandardSchema<unknown, RpcInput<S, M>>>(
    method: M,
    schema: Sch,
    handler: RpcHandler<SchemaOutput<Sch>, RpcOutput<S, M>>,
  ): this;
  rpc<M extends MethodName<S>>(method: M, handler: RpcHandler<RpcInput<S, M>, RpcOutput<S, M>>, schema?: StandardSchema<RpcInput<S, M>>): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the implementation signature, unseen by callers, admits both overloads' handlers
  rpc(method: string, first: StandardSchema | RpcHandler<any, any>, second?: StandardSchema | RpcHandler<any, any>): this {
    if (typeof first === 'function') this.operations.rpc(method, first, second as StandardSchema | undefined);
    else this.operations.rpc(method, second as RpcHandler, first);
    return this;
  }

  /**
   * Decide who a client is before the upgrade, from the HTTP request (a
   * session cookie, an API key...): return `{user, info?, channels?,
   * expiresAt?}` to accept, nothing to let the next hook (and then the JWT)
   * decide, or throw a SwitchboardError to refuse with its HTTP status.
   */
  authenticate(hook: AuthenticateHook): this {
    this.operations.use({ authenticate: hook });
    return this;
  }

  /** After the upgrade, before the welcome; throw a SwitchboardError to refuse (closes 4003, or 4001 for unauthorized). */
  onConnect(hook: ConnectHook): this {
    this.operations.use({ connect: hook });
    return this;
  }

  /** Before a client's subscription; throw to refuse, return `{info}` to show in presence. */
  onSubscribe(hook: SubscribeHook): this {
    this.operations.use({ subscribe: hook });
    return this;
  }

  /** Before a client's publication is stored; throw to refuse, return `{payload}` to replace it. */
  onPublish(hook: PublishHook): this {
    this.operations.use({ publish: hook });
    return this;
  }

  /** Before a client's presence_update; throw to refuse, return `{info}` to show that instead. */
  onPresenceUpdate(hook: PresenceUpdateHook): this {
    this.operations.use({ presenceUpdate: hook });
    return this;
  }

  /** After a connection closed, with the close code and reason. */
  onDisconnect(hook: DisconnectHook): this {
    this.operations.use({ disconnect: hook });
    return this;
  }

  /** Every client publication in `namespace` must pass `schema` before it is stored or delivered (bad_request otherwise). */
  publishSchema(namespace: string, schema: StandardSchema): this {
    this.operations.publishSchema(namespace, schema);
    return this;
  }

  /** Publish from the server side: allowed on every namespace, without a `from`. */
  async publish<C extends ChannelName<S>>(channel: C, payload: ChannelPayload<S, C>): Promise<number | null> {
    await this.start();
    return this.operations.publish(channel, payload);
  }

  /**
   * Subscribe a user's connections (or one client's) to a channel, on every
   * node; each gets a `subscribed` frame. Resolves to how many connections.
   */
  async subscribe(target: Target, channel: ChannelName<S>): Promise<number> {
    await this.start();
    return this.operations.subscribe(target, channel);
  }

  /** End a user's (or client's) subscription to a channel, on every node; each gets an `unsubscribed` frame. */
  async unsubscribe(target: Target, channel: ChannelName<S>): Promise<number> {
    await this.start();
    return this.operations.unsubscribe(target, channel);
  }

  /** Set the presence info of a user's (or client's) subscriptions to a channel, on every node, as their own presence_update would. How many. */
  async updatePresence(target: Target, channel: ChannelName<S>, info: unknown): Promise<number> {
    await this.start();
    return this.operations.updatePresence(target, channel, info);
  }

  /** Close a user's connections (or one client's) on every node, with a 4000-4999 code (default 4003). */
  async disconnect(target: Target, code: number = CloseCode.Disconnected, reason = 'disconnected by the server'): Promise<number> {
    await this.start();
    return this.operations.disconnect(target, code, reason);
  }

  /** Who is on a channel with presence, across every node. */
  async presence(channel: ChannelName<S>): Promise<PresenceResult> {
    await this.start();
    return this.operations.presence(channel);
  }

  /** A channel's history, as the `history` request answers it (capped at limits.maxReplyBytes). */
  async history<C extends ChannelName<S>>(channel: C, options: { limit?: number; since?: StreamPosition } = {}): Promise<HistoryResult<ChannelPayload<S, C>>> {
    await this.start();
    return (await this.operations.history(channel, options)) as HistoryResult<ChannelPayload<S, C>>;
  }

  /** Start the broker; listen() and attach() call it. */
  start(): Promise<void> {
    this.starting ??= this.core.start().then(() => this.webhooks?.start());
    return this.starting;
  }

  /** Start, and register as a node of the cluster: once serving, when the address is known. */
  private join(): Promise<void> {
    this.budget.start();
    this.joining ??= this.start().then(() => this.core.announce(this.address));
    return this.joining;
  }

  /**
   * Serve WebSockets on an existing HTTP(S) server (Express, Fastify, Hono's
   * node server...). Upgrades to other paths are left to the server's other
   * 'upgrade' listeners (ws, Socket.IO, Vite HMR); only when Switchboard is
   * the sole listener does a wrong path get the 404 JSON refusal.
   *
   * The app's server settings are left alone (they govern the app's own
   * routes too, and two of them can only be set at creation): create the
   * server with httpServerOptions() for the slow-request bounds listen() has.
   * Node's 408/431/400 answers to broken requests get the JSON body and count
   * as limit hits, unless the app has its own 'clientError' listener.
   */
  async attach(server: http.Server | https.Server): Promise<void> {
    await this.join();
    this.buildMetricsSoon();
    server.on('connection', this.admission.countPending);
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (server.listenerCount('upgrade') > 1 && upgradePath(req) !== this.config.path) {
        // Another listener's upgrade: theirs to answer, and no longer a
        // pending connection here (a Socket.IO WebSocket would count forever).
        this.admission.releasePending(socket);
        return;
      }
      this.handleUpgrade(req, socket, head);
    });
    if (server.listenerCount('clientError') === 0) server.on('clientError', this.refuseClientError);
    const { handshakeTimeout } = this.config.limits;
    if (server.headersTimeout === 0 || server.headersTimeout > handshakeTimeout) {
      this.logger.warn(
        { headersTimeout: server.headersTimeout, handshakeTimeout },
        'the attached server waits longer for request headers than limits.handshakeTimeout; create it with httpServerOptions() (docs/configuration.md, "Embedding")',
      );
    }
  }

  /**
   * Options for http.createServer / https.createServer that bound slow and
   * oversized requests as listen() does: headers within
   * limits.handshakeTimeout, a whole request within 30 s (or the handshake
   * timeout if longer), headers of at most 16 KiB.
   */
  httpServerOptions(): HttpServerOptions {
    // Node checks the timeouts every connectionsCheckingInterval.
    const { handshakeTimeout } = this.config.limits;
    return {
      maxHeaderSize: 16_384,
      headersTimeout: handshakeTimeout,
      requestTimeout: Math.max(30_000, handshakeTimeout),
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(handshakeTimeout / 4))),
    };
  }

  /**
   * Serves Switchboard's own HTTP routes (health, readiness, metrics, the
   * HTTP API, /client.js; under `httpPrefix` when set) and resolves false for
   * every other request, to be passed on to the app. Reads `req.body` when a
   * body parser has already consumed the stream.
   */
  readonly handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => this.route(req, res, false);

  private route(req: http.IncomingMessage, res: http.ServerResponse, owned: boolean): Promise<boolean> {
    const target = requestTarget(req);
    for (const endpoint of this.endpoints) {
      if (!target?.startsWith(endpoint.path) || (target.length > endpoint.path.length && target[endpoint.path.length] !== '?')) continue;
      const url = parseTarget(target);
      if (url) {
        if (endpoint.loaded) {
          endpoint.loaded.handle(req, res, url);
          return Promise.resolve(true);
        }
        return endpoint.load().then((loaded) => {
          loaded.handle(req, res, url);
          return true;
        });
      }
    }
    return handleRoute(
      { operations: this.operations, config: this.config, logger: this.logger, metrics: this.metricsView, isReady: () => this.isReady(), owned },
      req,
      res,
    );
  }

  /** Listen on `port` (0 picks a free one); resolves to the URL it serves. */
  async listen(port = this.config.port, host = this.config.host): Promise<{ url: string; port: number; host: string }> {
    await this.start();
    const tls = this.config.tlsCert && this.config.tlsKey ? { cert: readFileSync(this.config.tlsCert), key: readFileSync(this.config.tlsKey) } : null;
    // Bounded headers and timeouts drop slow or oversized upgrade requests (slowloris).
    const httpOptions = this.httpServerOptions();
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.route(req, res, true).then(
        (handled) => handled || notFound(res),
        (error: unknown) => {
          this.logger.error({ err: loggable(error) }, 'HTTP request failed');
          if (!res.headersSent) res.writeHead(500).end();
        },
      );
    };
    const server = tls ? https.createServer({ ...httpOptions, ...tls }, onRequest) : http.createServer(httpOptions, onRequest);
    server.on('connection', this.admission.countPending);
    server.on('upgrade', this.handleUpgrade);
    server.on('clientError', this.refuseClientError);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Node's default backlog (511) overflows when many clients reconnect at once.
      server.listen({ port, host, backlog: this.config.backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ownServers.push(server);
    if (host) this.listenHosts.add(host.toLowerCase());
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${tls ? 'https' : 'http'}://${shownHost}:${address.port}`;
    this.address ??= `${shownHost}:${address.port}`;
    await this.join();
    this.buildMetricsSoon();
    return { url, port: address.port, host: address.address };
  }

  /** Once serving: the metrics registry is built in the next turn, after the caller has said it listens. */
  private buildMetricsSoon(): void {
    setImmediate(() => this.metrics.build());
  }

  /** @internal This process's metrics, for the primary to merge with the other workers'. */
  metricsSnapshot(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.metrics.snapshot();
  }

  isReady(): boolean {
    return !this.draining && this.broker.isHealthy();
  }

  /**
   * Drain (docs/protocol.md, "Deploys without storms"): readiness turns 503,
   * new WebSockets are closed at once with 1012 and a hint to come back after
   * the drain (new HTTP streams get 503), the connections are closed with 1012
   * and a retry hint in batches over `drainWindow`, and once they are gone (or
   * `drainTimeout` later) the broker and any server we own are closed.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    // From here on new streams are refused with 503, and new WebSockets (once the plan is made) closed with 1012.
    this.draining = true;
    const connections = this.operations.telemetry.connections.total();
    // Until the broker says whether other nodes are alive, a new WebSocket is told to come back after the drain.
    this.drainPlan = new DrainPlan(this.config.drainWindow, connections, false);
    const plan = new DrainPlan(this.config.drainWindow, connections, await this.hasPeers());
    this.drainPlan = plan;
    await this.core.drain({
      code: CloseCode.ServiceRestart,
      reason: () => retryInReason(plan.closeHint()),
      windowMs: plan.windowMs,
      graceMs: this.config.drainTimeout,
    });
    this.wss.close();
    this.budget.stop();
    // Deliveries stop first; what is queued waits for another node, or this one's next start.
    await this.webhooks?.stop();
    await this.core.stop();
    this.proxy?.close();
    // The listener goes last: /healthz and /metrics answer until the process is about to exit.
    await Promise.all(
      this.ownServers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
  }

  /** Whether another node is alive in the broker's registry (false when it cannot tell: the broker bounds the call by brokerTimeout). */
  private async hasPeers(): Promise<boolean> {
    const records = await this.broker.nodes().catch(() => []);
    return records.some((record) => record.node !== this.operations.nodeId);
  }

  private readonly handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', destroyOnError);
    try {
      this.upgrade(req, socket, head);
    } catch (error) {
      this.upgradeFailed(socket, error);
    }
  };

  private upgradeFailed(socket: Duplex, error: unknown): void {
    this.logger.error({ err: loggable(error) }, 'upgrade failed');
    socket.destroy();
  }

  /** Synchronous unless the handshake waits for a hook or a token's verification. */
  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const upgrade = checkUpgrade(req, this.policy);
    if (isRefusal(upgrade)) {
      this.refuse(socket, upgrade, req);
      return;
    }
    // Turned away before any auth or subscribe work: during a drain, or over the handshake budget.
    if (this.drainPlan) {
      this.turnAway(req, socket, head, upgrade.codec, CloseCode.ServiceRestart, this.drainPlan.returnHint());
      return;
    }
    const over = this.budget.over();
    if (over) {
      this.budget.turnedAway(over);
      this.turnAway(req, socket, head, upgrade.codec, CloseCode.TryAgainLater, this.budget.retryIn());
      return;
    }
    this.budget.inFlight++;
    let result: Accepted | Refusal | Promise<Accepted | Refusal>;
    try {
      result = checkClient(req, upgrade.url, this.policy, upgrade.codec);
    } catch (error) {
      this.budget.inFlight--;
      throw error;
    }
    if (result instanceof Promise) {
      result
        .finally(() => this.budget.inFlight--)
        .then((settled) => this.completeUpgrade(req, socket, head, settled))
        .catch((error: unknown) => this.upgradeFailed(socket, error));
    } else {
      this.budget.inFlight--;
      this.completeUpgrade(req, socket, head, result);
    }
  }

  /**
   * Complete the upgrade and close at once with `code` and a retry hint: a
   * browser cannot read a refused upgrade's status, but it reads a close
   * frame. No session, no slot: it costs an upgrade and a close.
   */
  private turnAway(req: http.IncomingMessage, socket: Duplex, head: Buffer, codec: Codec, code: number, retryIn: number): void {
    this.admission.refusals.inc([101, code]);
    (req as UpgradeRequest)[PROTOCOL] = codec.subprotocol;
    this.wss.handleUpgrade(req, socket, head, (ws) => ws.close(code, retryInReason(retryIn)));
  }

  private completeUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, result: Accepted | Refusal): void {
    // Gone while its token was verified: nothing to answer, no slot to take.
    if (socket.destroyed) return;
    if (isRefusal(result)) {
      this.refuse(socket, result, req);
      return;
    }
    const refused = this.admission.admit(result.ip, socket);
    if (refused) {
      this.refuse(socket, refused, req);
      return;
    }
    (req as UpgradeRequest)[PROTOCOL] = result.codec.subprotocol;
    corkUpgrade(socket);
    this.wss.handleUpgrade(req, socket, head, (ws) => bindWebSocket(this.core, ws, result));
  }

  /**
   * Answer a refused handshake, counted by status and code and logged with the
   * address: never the target's query or headers, where tokens travel.
   */
  private refuse(socket: Duplex, answer: Refusal, req: http.IncomingMessage | null): void {
    this.admission.refusals.inc([answer.status, answer.code]);
    const ip = req?.socket.remoteAddress ?? (socket as Partial<Socket>).remoteAddress;
    this.logger.info({ status: answer.status, code: answer.code, ip, reason: answer.message }, 'handshake refused');
    writeRefusal(socket, answer);
  }

  /** Refuse a request that would have opened an HTTP stream: as a refused handshake, with the JSON body. */
  private refuseRequest(req: http.IncomingMessage, res: http.ServerResponse, answer: Refusal): void {
    this.admission.refusals.inc([answer.status, answer.code]);
    this.logger.info({ status: answer.status, code: answer.code, ip: req.socket.remoteAddress, reason: answer.message }, 'stream refused');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = JSON.stringify({ error: { code: answer.code, message: answer.message } });
    res.writeHead(answer.status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...answer.headers });
    res.end(body);
  }

  /** Requests Node's HTTP parser gave up on: answer, count the bound hit, destroy the socket. */
  private readonly refuseClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
    const [answer, limit] = clientErrorRefusal(error);
    if (limit) this.limitHits.hit(limit);
    this.refuse(socket, answer, null);
  };
}

/** What to answer a request Node's HTTP parser gave up on, and the bound it hit if any. */
function clientErrorRefusal(error: NodeJS.ErrnoException): [Refusal, LimitName | null] {
  if (error.code === 'HPE_HEADER_OVERFLOW') return [refusal(431, 'bad_request', 'request headers are too large'), 'headerSize'];
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return [refusal(408, 'timeout', 'request headers took too long'), 'handshakeTimeout'];
  return [refusal(400, 'bad_request', 'malformed HTTP request'), null];
}

interface Endpoint {
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void;
}

/** An HTTP transport's endpoint: its path, and its module loaded at the first request to it. */
interface LazyEndpoint {
  readonly path: string;
  /** Set once loaded: later requests are handled in the same turn. */
  loaded: Endpoint | null;
  load(): Promise<Endpoint>;
}

function lazyEndpoint(path: string, make: () => Promise<Endpoint>): LazyEndpoint {
  let loading: Promise<Endpoint> | null = null;
  const endpoint: LazyEndpoint = {
    path,
    loaded: null,
    load: () =>
      (loading ??= make().then((made) => {
        endpoint.loaded = made;
        return made;
      })),
  };
  return endpoint;
}

/** Shared by every upgrading socket, so no closure is made per handshake. */
function destroyOnError(this: Duplex): void {
  this.destroy();
}

export function createServer<S extends AppSchema = AnySchema>(options: ServerOptions = {}): SwitchboardServer<S> {
  return new SwitchboardServer<S>(options);
}
