// Prometheus metrics (docs/operations.md, "Metrics"), all named switchboard_*.
// Counters are read from the core's plain numbers when scraped, so that the
// hot path only increments them; the two latency histograms are observed as
// calls settle (RPC calls and broker operations, never per delivery).
//
// prom-client (about a tenth of the start) is required once the server
// listens, in the turn after its listening line, or at the first scrape if
// that is sooner: latencies observed before are kept and replayed into the
// histograms then.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import type { Broker } from '../brokers/broker.js';
import type { CoreTelemetry } from './core/index.js';
import type { Tally } from './tally.js';
import type { LimitHits } from './limit-hits.js';
import type { Webhooks } from './webhooks/webhooks.js';
import type { HandshakeBudget } from './handshake-budget.js';

let promModule: typeof PromClient | null = null;
/** prom-client (CommonJS), required by the first registry built. */
export function promClient(): typeof PromClient {
  promModule ??= createRequire(import.meta.url)('prom-client') as typeof PromClient;
  return promModule;
}

/** Seconds: from a fast local call to past the default broker and RPC timeouts. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** What /metrics serves: a prom-client Registry, or the cluster's merged view. */
export interface MetricsView {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Where the figures come from: the core's, the broker's, and the handshake's. */
export interface MetricSources {
  telemetry: CoreTelemetry;
  broker: Broker;
  limitHits: LimitHits;
  /** Refused handshakes by HTTP status and error code. */
  refusals: Tally;
  /** Handshakes in flight and those turned away with 1013 (config admission). */
  budget?: HandshakeBudget;
  /** Webhook deliveries and the per-user connection limit, when configured. */
  webhooks?: Webhooks | null;
}

/**
 * prom-client's defaults that cost a walk over every handle or file
 * descriptor on each scrape: 10,000 connections made a scrape take tens of
 * ms of the event loop. switchboard_connections counts the connections.
 */
const PER_CONNECTION_DEFAULTS = [
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'process_open_fds',
];

/**
 * Process and Node.js metrics (CPU, memory, event-loop lag, GC...), named
 * switchboard_process_cpu_seconds_total, switchboard_nodejs_eventloop_lag_seconds...,
 * without those whose cost grows with the connections.
 */
export function processMetrics(registry: Registry): void {
  promClient().collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  for (const name of PER_CONNECTION_DEFAULTS) registry.removeSingleMetric(`switchboard_${name}`);
}

/** Observations kept until the registry is built; at this many it is built at once (a server that never listens). */
const EARLY_LIMIT = 1_000;

interface Observers {
  rpc(method: string, outcome: string, seconds: number): void;
  broker(operation: string, seconds: number, ok: boolean): void;
}

/** A server's registry, built at its first use (build()): what /metrics serves and a worker reports. */
export class ServerMetrics implements MetricsView {
  private registry: Registry | null = null;
  private observers: Observers | null = null;
  /** What was observed before the registry was built, replayed once it is. */
  private early: Array<() => void> = [];
  /** Registered after the server's own metrics, in order (the proxy's). */
  private readonly extensions: Array<(registry: Registry) => void> = [];

  constructor(private readonly sources: MetricSources) {
    sources.telemetry.observeRpc((method, outcome, seconds) => {
      if (this.observers) this.observers.rpc(method, outcome, seconds);
      else this.keep(() => this.observers!.rpc(method, outcome, seconds));
    });
    sources.telemetry.observeBroker((operation, seconds, ok) => {
      if (this.observers) this.observers.broker(operation, seconds, ok);
      else this.keep(() => this.observers!.broker(operation, seconds, ok));
    });
  }

  get contentType(): string {
    return this.build().contentType;
  }

  metrics(): Promise<string> {
    return this.build().metrics();
  }

  /** This process's metrics, for a primary to merge with its other workers'. */
  snapshot(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return this.build().getMetricsAsJSON();
  }

  /** Register more metrics once the registry is built (at once if it is). */
  extend(register: (registry: Registry) => void): void {
    if (this.registry) register(this.registry);
    else this.extensions.push(register);
  }

  /** Run `replay` once the registry is built (at once if it is): an observation made before. */
  keep(replay: () => void): void {
    if (this.registry) return replay();
    if (this.early.push(replay) >= EARLY_LIMIT) this.build();
  }

  /** Build the registry now if it is not yet. */
  build(): Registry {
    if (this.registry) return this.registry;
    const { registry, observers } = createMetrics(this.sources);
    this.registry = registry;
    this.observers = observers;
    for (const register of this.extensions) register(registry);
    this.extensions.length = 0;
    const early = this.early;
    this.early = [];
    for (const replay of early) replay();
    return registry;
  }
}

function createMetrics({ telemetry, broker, limitHits, refusals, budget, webhooks }: MetricSources): { registry: Registry; observers: Observers } {
  const { Counter, Gauge, Histogram, Registry } = promClient();
  const registry = new Registry();
  processMetrics(registry);
  const registers = [registry];

  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read());
      },
    });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  /** A figure of the whole cluster, read from the broker when scraped; one the broker cannot give keeps its last value. */
  const clusterGauge = (name: string, help: string, read: () => Promise<number>) =>
    new Gauge({
      name,
      help,
      registers,
      // With `serve --workers` every worker reads the same figure: merged, it is that figure, not their sum.
      aggregator: 'max',
      async collect() {
        await read().then(
          (value) => this.set(value),
          () => {},
        );
      },
    });
  /** A counter whose label values and counts come from a tally. */
  const tallied = (name: string, help: string, labelNames: string[], tally: Tally) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        for (const [values, count] of tally.entries()) {
          this.inc(Object.fromEntries(labelNames.map((label, i) => [label, values[i]!])), count);
        }
      },
    });

  new Gauge({
    name: 'switchboard_connections',
    help: 'Open connections on this node, by subprotocol and transport (websocket, sse, http-stream)',
    labelNames: ['subprotocol', 'transport'],
    registers,
    collect() {
      this.reset();
      for (const [[subprotocol, transport], count] of telemetry.connections.entries()) this.set({ subprotocol, transport }, count);
    },
  });
  gauge('switchboard_outbound_bytes', "Bytes queued for this node's connections, all together, at the last check (limits.outboundBytes bounds it)", () =>
    telemetry.outboundBytes(),
  );
  gauge('switchboard_channels', 'Channels with at least one subscriber on this node', () => telemetry.channels());
  gauge('switchboard_subscriptions', "Subscriptions held by this node's connections", () => telemetry.subscriptions());
  tallied(
    'switchboard_handshake_refusals_total',
    'WebSocket handshakes refused, by HTTP status and error code (status 101: completed and closed at once with the close code 1012 or 1013)',
    ['status', 'code'],
    refusals,
  );
  if (budget) {
    gauge(
      'switchboard_handshakes_in_flight',
      'Upgrades waiting for a token check or an authenticate hook (admission.maxHandshakes bounds it)',
      () => budget.inFlight,
    );
    new Counter({
      name: 'switchboard_handshakes_turned_away_total',
      help: 'Upgrades closed at once with 1013 by admission: over admission.maxLagMs (lag) or admission.maxHandshakes (in_flight)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(budget.shed)) this.inc({ reason }, count);
      },
    });
  }
  tallied('switchboard_closes_total', 'Closed connections, by close code and by who closed (server or client)', ['code', 'by'], telemetry.closes);
  new Counter({
    name: 'switchboard_limit_hits_total',
    help: "Times a bound was hit (refused, evicted or closed), by the limit's config key",
    labelNames: ['limit'],
    registers,
    collect() {
      this.reset();
      for (const [limit, count] of limitHits.entries()) this.inc({ limit }, count);
      for (const [limit, count] of broker.limitHits?.() ?? []) this.inc({ limit }, count);
    },
  });
  counter('switchboard_frames_received_total', 'Frames received from clients', () => telemetry.counters.received);
  counter('switchboard_bytes_received_total', 'Bytes of frames received from clients', () => telemetry.counters.bytesIn);
  counter('switchboard_frames_sent_total', 'Frames sent to clients', () => telemetry.traffic.framesOut);
  counter('switchboard_bytes_sent_total', 'Bytes of frames sent to clients (before compression)', () => telemetry.traffic.bytesOut);
  counter('switchboard_bad_requests_total', 'Frames refused as bad_request', () => telemetry.counters.badRequests);
  counter('switchboard_rate_limited_total', 'Frames refused as rate_limited', () => telemetry.counters.rateLimited);
  const { tallies } = telemetry;
  tallied('switchboard_publications_total', 'Publications made through this node (clients, HTTP API, server), by namespace', ['namespace'], tallies.published);
  tallied(
    'switchboard_publications_received_total',
    'Publications the broker delivered to this node for its subscribers, by namespace',
    ['namespace'],
    tallies.received,
  );
  tallied('switchboard_messages_delivered_total', 'Message frames sent to subscribers, by namespace', ['namespace'], tallies.delivered);
  tallied(
    'switchboard_recoveries_total',
    'Subscribes with a position, by outcome: recovered, epoch_changed, evicted, future_position, no_history',
    ['outcome'],
    tallies.recoveries,
  );
  tallied(
    'switchboard_subscribe_history_reads_total',
    'History reads of subscribes, by kind: asked (subscribes that wanted a page), sent (reads sent to the broker; one serves the subscribes of a channel asked together)',
    ['kind'],
    tallies.subscribeReads,
  );

  const rpcCalls = new Counter({
    name: 'switchboard_rpc_calls_total',
    help: 'RPC calls by method (unregistered names as "(unknown)") and outcome (ok or the error code)',
    labelNames: ['method', 'outcome'],
    registers,
  });
  const rpcSeconds = new Histogram({
    name: 'switchboard_rpc_duration_seconds',
    help: 'Time from an RPC call to its answer, by method',
    labelNames: ['method'],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  new Gauge({
    name: 'switchboard_broker_up',
    help: '1 while the broker can publish and deliver, 0 while it is down',
    registers,
    // Merged over the workers of `serve --workers`: 0 if any worker's broker is down.
    aggregator: 'min',
    collect() {
      this.set(broker.isHealthy() ? 1 : 0);
    },
  });
  counter('switchboard_broker_outages_total', 'Times the broker went down', () => telemetry.brokerOutages());
  const brokerSeconds = new Histogram({
    name: 'switchboard_broker_operation_duration_seconds',
    help: 'Time the broker took to answer, by operation and result (ok or error)',
    labelNames: ['operation', 'result'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  clusterGauge('switchboard_revocations', 'Token revocations held cluster-wide (limits.revocations bounds them)', () => broker.ledger.revocations());
  if (webhooks) {
    clusterGauge('switchboard_webhooks_queued', 'Webhook events waiting for delivery, all endpoints, cluster-wide (limits.webhookQueue bounds each)', () =>
      webhooks.queued(),
    );
    tallied('switchboard_webhooks_sent_total', 'Webhook calls answered 2xx, by event type', ['type'], webhooks.stats.sent);
    tallied('switchboard_webhooks_retried_total', 'Webhook calls sent again after a failure, by event type', ['type'], webhooks.stats.retried);
    tallied(
      'switchboard_webhooks_dropped_total',
      'Webhook events dropped, by reason: bound (limits.webhookQueue) or expired (webhookRetryFor)',
      ['reason'],
      webhooks.stats.dropped,
    );
    counter('switchboard_user_connection_refusals_total', 'Connections refused by limits.connectionsPerUser', () => webhooks.refused);
  }
  const observers: Observers = {
    rpc(method, outcome, seconds) {
      rpcCalls.inc({ method, outcome });
      rpcSeconds.observe({ method }, seconds);
    },
    broker: (operation, seconds, ok) => brokerSeconds.observe({ operation, result: ok ? 'ok' : 'error' }, seconds),
  };
  return { registry, observers };
}
