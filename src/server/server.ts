// A Switchboard server: config, broker and core wired to Node's HTTP server and
// `ws`. It can own its HTTP server (listen) or join an existing one (attach).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Registry } from 'prom-client';
import type { Broker } from '../brokers/broker.js';
import { MemoryBroker } from '../brokers/memory.js';
import { RedisBroker } from '../brokers/redis.js';
import { jsonCodec, type Codec } from '../protocol/codec.js';
import { msgpackCodec } from '../protocol/msgpack.js';
import { CloseCode } from '../protocol/codes.js';
import { parseConfig, type Config, type ConfigInput } from './config.js';
import { Core, type ConnectionInfo } from './core.js';
import { checkHandshake, isRefusal, refusal, writeRefusal, type HandshakePolicy, type Refusal } from './handshake.js';
import { handleRoute, notFound } from './http/routes.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import type { RpcHandler, StandardSchema } from './rpc.js';
import type { AnySchema, AppSchema, ChannelName, ChannelPayload, MethodName, RpcInput, RpcOutput } from '../protocol/schema.js';
import { bindWebSocket } from './ws-transport.js';

export interface ServerOptions extends ConfigInput {
  /** The broker; by default the in-memory one (single node). */
  broker?: Broker;
  /** A pino logger; by default one at SWITCHBOARD_LOG_LEVEL or info, to stdout. */
  logger?: Logger;
}

/** How long a drain waits for clients to answer 1001 before cutting them off. */
const DRAIN_GRACE_MS = 3_000;

export class SwitchboardServer<S extends AppSchema = AnySchema> {
  readonly config: Config;
  readonly core: Core;
  readonly logger: Logger;
  private readonly metrics: Registry;
  private readonly wss: WebSocketServer;
  private readonly codecs: Codec[] = [jsonCodec, msgpackCodec];
  private readonly chosenProtocol = new WeakMap<http.IncomingMessage, string>();
  private readonly perIp = new Map<string, number>();
  private readonly ownServers: http.Server[] = [];
  private connections = 0;
  private draining = false;
  private starting: Promise<void> | null = null;
  private closing: Promise<void> | null = null;

  constructor(options: ServerOptions = {}) {
    const { broker, logger, ...config } = options;
    this.config = parseConfig(config);
    this.logger = logger ?? createLogger();
    this.core = new Core(this.config, broker ?? defaultBroker(this.config), this.logger);
    this.metrics = createMetrics(this.core);
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.config.limits.maxPayload,
      // ws checks maxPayload against the inflated size, so a deflate bomb closes with 1009.
      perMessageDeflate: this.config.compression ? { threshold: 1024, concurrencyLimit: 10 } : false,
      clientTracking: false,
      handleProtocols: (_offered, req) => this.chosenProtocol.get(req) ?? false,
    });
  }

  /** Register an RPC method; with a Standard Schema (zod, valibot...) the payload is validated first. */
  rpc<M extends MethodName<S>>(
    method: M,
    handler: RpcHandler<RpcInput<S, M>, RpcOutput<S, M>>,
    schema?: StandardSchema<RpcInput<S, M>>,
  ): this {
    this.core.rpc.register(method, handler, schema);
    return this;
  }

  onConnect(hook: (info: ConnectionInfo) => void): this {
    this.core.hooks.onConnect = hook;
    return this;
  }

  onDisconnect(hook: (info: ConnectionInfo, code: number, reason: string) => void): this {
    this.core.hooks.onDisconnect = hook;
    return this;
  }

  /** Publish from the server side: allowed on every namespace, without a `from`. */
  async publish<C extends ChannelName<S>>(channel: C, payload: ChannelPayload<S, C>): Promise<number | null> {
    await this.start();
    return this.core.hub.publish(channel, payload, undefined, this.core.namespaces.resolve(channel));
  }

  /** Start the broker; listen() and attach() call it. */
  start(): Promise<void> {
    this.starting ??= this.core.start();
    return this.starting;
  }

  /** Serve WebSockets on an existing HTTP(S) server (Express, Fastify, Hono's node server...). */
  async attach(server: http.Server | https.Server): Promise<void> {
    await this.start();
    server.on('upgrade', this.handleUpgrade);
  }

  /**
   * Handles health, readiness, metrics and the HTTP API for a server you own;
   * resolves false when the request is not one of these.
   */
  readonly handleRequest = (req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> => this.route(req, res, false);

  private route(req: http.IncomingMessage, res: http.ServerResponse, demoPage: boolean): Promise<boolean> {
    return handleRoute({ core: this.core, metrics: this.metrics, isReady: () => this.isReady(), demoPage }, req, res);
  }

  /** Listen on `port` (0 picks a free one); resolves to the URL it serves. */
  async listen(port = this.config.port, host = this.config.host): Promise<{ url: string; port: number; host: string }> {
    await this.start();
    const tls = this.config.tlsCert && this.config.tlsKey
      ? { cert: readFileSync(this.config.tlsCert), key: readFileSync(this.config.tlsKey) }
      : null;
    // Bounded headers and timeouts drop slow or oversized upgrade requests
    // (slowloris); Node checks the timeouts every connectionsCheckingInterval.
    const { handshakeTimeout } = this.config.limits;
    const httpOptions = {
      maxHeaderSize: 16_384,
      headersTimeout: handshakeTimeout,
      requestTimeout: Math.max(30_000, handshakeTimeout),
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(handshakeTimeout / 4))),
    };
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.route(req, res, true).then(
        (handled) => handled || notFound(res),
        (error: unknown) => {
          this.logger.error({ err: error }, 'HTTP request failed');
          if (!res.headersSent) res.writeHead(500).end();
        },
      );
    };
    const server = tls ? https.createServer({ ...httpOptions, ...tls }, onRequest) : http.createServer(httpOptions, onRequest);
    server.on('upgrade', this.handleUpgrade);
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => writeRefusal(socket, clientErrorRefusal(error)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ownServers.push(server);
    const address = server.address() as AddressInfo;
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `${tls ? 'https' : 'http'}://${shownHost}:${address.port}`;
    return { url, port: address.port, host: address.address };
  }

  isReady(): boolean {
    return !this.draining && this.core.broker.isHealthy();
  }

  /**
   * Drain: readiness turns 503, new connections are refused with 503, every
   * client gets 1001, and once they are gone (or the grace period ends) the
   * broker and any server we own are closed.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    this.core.closeAll(CloseCode.GoingAway, 'server shutting down');
    const gone = await this.core.whenEmpty(DRAIN_GRACE_MS);
    if (!gone) for (const session of this.core.sessions.values()) session.terminate('drain grace period over');
    await Promise.all(
      this.ownServers.map(
        (server) =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
          }),
      ),
    );
    this.wss.close();
    await this.core.stop();
  }

  private readonly handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    this.upgrade(req, socket, head).catch((error: unknown) => {
      this.logger.error({ err: error }, 'upgrade failed');
      socket.destroy();
    });
  };

  private async upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const result = await checkHandshake(req, this.handshakePolicy(socket));
    if (isRefusal(result)) {
      writeRefusal(socket, result);
      return;
    }
    if (this.draining) {
      writeRefusal(socket, refusal(503, 'unavailable', 'server is shutting down'));
      return;
    }
    this.chosenProtocol.set(req, result.codec.subprotocol);
    this.wss.handleUpgrade(req, socket, head, (ws) => bindWebSocket(this.core, ws, result));
  }

  private handshakePolicy(socket: Duplex): HandshakePolicy {
    return {
      path: this.config.path,
      allowedOrigins: this.config.allowedOrigins,
      tls: Boolean(this.config.tlsCert),
      codecs: this.codecs,
      verifier: this.core.verifier,
      requireToken: !this.core.namespaces.allowsAnonymous,
      admission: (ip) => this.admit(ip, socket),
    };
  }

  /** Check the caps, then hold a slot for `ip` until the TCP socket closes. */
  private admit(ip: string, socket: Duplex): ReturnType<HandshakePolicy['admission']> {
    const { maxConnections, connectionsPerIp } = this.config.limits;
    if (this.draining) return refusal(503, 'unavailable', 'server is shutting down');
    if (this.connections >= maxConnections) return refusal(503, 'unavailable', 'server is at its connection cap');
    const fromIp = this.perIp.get(ip) ?? 0;
    if (fromIp >= connectionsPerIp) return refusal(429, 'too_many_connections', `at most ${connectionsPerIp} connections per IP`);
    this.connections++;
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    socket.once('close', () => {
      this.connections--;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left === 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
    return null;
  }
}

/** The in-memory broker, or Redis when the config names one. */
function defaultBroker(config: Config): Broker {
  if (config.nats) throw new Error('the NATS broker is not available yet; use redis or the in-memory broker');
  return config.redis ? new RedisBroker({ url: config.redis, timeout: config.brokerTimeout }) : new MemoryBroker();
}

/** What to answer a request Node's HTTP parser gave up on. */
function clientErrorRefusal(error: NodeJS.ErrnoException): Refusal {
  if (error.code === 'HPE_HEADER_OVERFLOW') return refusal(431, 'bad_request', 'request headers are too large');
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return refusal(408, 'timeout', 'request headers took too long');
  return refusal(400, 'bad_request', 'malformed HTTP request');
}

export function createServer<S extends AppSchema = AnySchema>(options: ServerOptions = {}): SwitchboardServer<S> {
  return new SwitchboardServer<S>(options);
}
