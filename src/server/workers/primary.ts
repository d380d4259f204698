// The primary of `serve --workers N` (docs/scaling.md, "Workers"). It serves
// no client itself: Node's cluster module hands each accepted connection to a
// worker in turn (round robin, so no worker runs past its file limit while
// others idle). It holds the shared in-memory broker, replaces a worker that
// dies, merges the workers' /metrics into one view, and on SIGTERM drains
// them all before it exits.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import { BrokerHost } from '../../brokers/ipc-host.js';
import { childEndpoint, type IpcEndpoint, type IpcMessage } from '../../brokers/ipc-endpoint.js';
import type { Config } from '../config.js';
import { startBanner } from '../start-banner.js';
import { createLogger, type Logger } from '../logger.js';
import { memoryBrokerOptions } from '../default-broker.js';
import type { FromPrimary, FromWorker, MetricsJson } from './messages.js';
import { processMetrics } from '../metrics.js';

/** How long the primary waits for each worker's metrics before it merges what it has. */
const SNAPSHOT_TIMEOUT = 2_000;
/** A worker that dies sooner than this after its start is restarted after a growing delay. */
const EARLY_DEATH_MS = 5_000;
const MAX_RESTART_DELAY_MS = 10_000;

export function workerCount(setting: Config['workers']): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

interface Slot {
  index: number;
  worker: Worker;
  endpoint: IpcEndpoint;
  startedAt: number;
  listening: boolean;
}

export class Primary {
  private readonly slots: Slot[] = [];
  private readonly byEndpoint = new Map<IpcEndpoint, Slot>();
  private readonly host: BrokerHost | null;
  private readonly logger: Logger;
  private readonly registry = new Registry();
  private restarts = 0;
  private restartDelay = 0;
  private stopping = false;
  private announced = false;
  private nextSnapshot = 1;
  private merging: Promise<string> | null = null;
  /** Each live worker's metrics as last scraped, and the counters of the workers that exited, summed. */
  private readonly lastMetrics = new Map<Worker, MetricsJson>();
  private retired: MetricsJson | null = null;
  private readonly snapshots = new Map<number, { pending: Set<Worker>; got: MetricsJson[]; done: () => void }>();

  constructor(
    private readonly config: Config,
    private readonly count: number,
  ) {
    this.logger = createLogger().child({ role: 'primary' });
    // With Redis every worker connects to it; otherwise they share this process's broker.
    this.host = config.redis ? null : new BrokerHost({ ...memoryBrokerOptions(config), maxBacklogMs: config.nodeTtl });
    if (this.host) this.host.onStuck = (endpoint) => this.replaceStuck(endpoint);
    processMetrics(this.registry);
    const slots = this.slots;
    new Gauge({
      name: 'switchboard_workers',
      help: 'Worker processes serving the port (serve --workers)',
      registers: [this.registry],
      collect() {
        this.set(slots.filter((slot) => slot.listening).length);
      },
    });
    const primary = this;
    new Counter({
      name: 'switchboard_worker_restarts_total',
      help: 'Workers replaced after they exited or stopped renewing their lease',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(primary.restarts);
      },
    });
  }

  async start(): Promise<void> {
    await this.host?.start();
    // Structured clones, not JSON: publications keep their binary payloads.
    cluster.setupPrimary({ serialization: 'advanced' });
    for (let index = 0; index < this.count; index++) this.fork(index);
    process.on('SIGTERM', () => void this.stop('SIGTERM'));
    process.on('SIGINT', () => void this.stop('SIGINT'));
  }

  private fork(index: number): void {
    const worker = cluster.fork({ SWITCHBOARD_WORKER: String(index + 1) });
    const endpoint = childEndpoint(worker.process);
    const slot: Slot = { index, worker, endpoint, startedAt: Date.now(), listening: false };
    this.slots[index] = slot;
    this.byEndpoint.set(endpoint, slot);
    this.host?.accept(endpoint);
    endpoint.onMessage((message) => this.receive(slot, message));
    worker.on('exit', (code, signal) => {
      this.byEndpoint.delete(endpoint);
      void this.retire(worker);
      this.exited(slot, code, signal);
    });
  }

  private receive(slot: Slot, raw: IpcMessage): void {
    const message = raw as FromWorker;
    if (message.sb === 'listening') {
      slot.listening = true;
      // A drain sent while it was still loading was not heard: say it again.
      if (this.stopping) slot.endpoint.send({ sb: 'drain' } satisfies FromPrimary);
      if (!this.announced && this.slots.every((s) => s.listening)) {
        this.announced = true;
        // Plain text, as a single-process serve prints it: scripts wait for this line.
        process.stdout.write(startBanner(message.url, this.config));
        this.logger.info({ url: message.url, workers: this.count, broker: this.host ? 'workers' : 'redis' }, 'listening');
      }
    } else if (message.sb === 'cluster-metrics') {
      // Scrapes that arrive while a merge runs share it: the primary merges one at a time.
      this.merging ??= this.merged().finally(() => (this.merging = null));
      this.merging.then(
        (text) => slot.endpoint.send({ sb: 'cluster-metrics', id: message.id, text } satisfies FromPrimary),
        (error: unknown) => this.logger.error({ err: error }, 'merging metrics failed'),
      );
    } else if (message.sb === 'metrics') {
      const snapshot = this.snapshots.get(message.id);
      if (!snapshot?.pending.delete(slot.worker)) return;
      snapshot.got.push(message.metrics);
      this.lastMetrics.set(slot.worker, message.metrics);
      if (snapshot.pending.size === 0) snapshot.done();
    }
  }

  /** Every live worker's metrics and the primary's, merged (counters and gauges summed). */
  private async merged(): Promise<string> {
    const id = this.nextSnapshot++;
    const live = this.slots.filter((slot) => slot.worker.isConnected());
    const got: MetricsJson[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, SNAPSHOT_TIMEOUT);
      const snapshots = this.snapshots;
      function finish() {
        clearTimeout(timer);
        snapshots.delete(id);
        resolve();
      }
      this.snapshots.set(id, { pending: new Set(live.map((slot) => slot.worker)), got, done: finish });
      for (const slot of live) slot.endpoint.send({ sb: 'metrics-of', id } satisfies FromPrimary);
      if (live.length === 0) finish();
    });
    got.push(await this.registry.getMetricsAsJSON());
    if (this.retired) got.push(this.retired);
    return AggregatorRegistry.aggregate(got).metrics();
  }

  /**
   * A worker that exited keeps counting in the merged counters, with what its
   * last scrape showed, so that no counter goes backwards when a worker is
   * replaced (Prometheus would read a drop as a reset). Its gauges go with it.
   */
  private async retire(worker: Worker): Promise<void> {
    const last = this.lastMetrics.get(worker);
    this.lastMetrics.delete(worker);
    if (!last) return;
    // At run time the type is a string ('counter'); prom-client's typings say a numeric enum.
    const counted = last.filter((metric) => ['counter', 'histogram'].includes(String(metric.type)));
    this.retired = await AggregatorRegistry.aggregate(this.retired ? [this.retired, counted] : [counted]).getMetricsAsJSON();
  }

  private exited(slot: Slot, code: number | null, signal: string | null): void {
    slot.listening = false;
    if (this.stopping) return;
    if (!this.announced) {
      // It could not start (the port is taken, a TLS file is unreadable...): it said why on stderr.
      this.logger.error({ worker: slot.worker.id, code, signal }, 'a worker failed to start; stopping');
      void this.stop('worker failed to start', code ?? 1);
      return;
    }
    const lived = Date.now() - slot.startedAt;
    this.restartDelay = lived < EARLY_DEATH_MS ? Math.min(MAX_RESTART_DELAY_MS, Math.max(100, this.restartDelay * 2)) : 0;
    this.logger.error({ worker: slot.worker.id, code, signal, restartInMs: this.restartDelay }, 'worker exited; starting another');
    this.restarts++;
    setTimeout(() => {
      if (!this.stopping) this.fork(slot.index);
    }, this.restartDelay);
  }

  /** A worker alive but stuck (not renewing its lease, or not reading its channel): its clients are better off on another. */
  private replaceStuck(endpoint: IpcEndpoint): void {
    const slot = this.byEndpoint.get(endpoint);
    if (!slot) return;
    this.logger.error({ worker: slot.worker.id }, 'worker stuck (lease lapsed or channel backed up); killing it');
    slot.worker.process.kill('SIGKILL');
  }

  /** Drain every worker (each closes its clients with 1012 over drainWindow, cut off drainTimeout later), then stop. */
  async stop(signal: string, exitCode = 0): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info({ signal }, 'draining workers');
    const alive = this.slots.filter((slot) => !slot.worker.isDead());
    const exited = alive.map(({ worker }) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
    for (const slot of alive) slot.endpoint.send({ sb: 'drain' } satisfies FromPrimary);
    // A worker that cannot finish its drain is cut off a little after its window and drainTimeout.
    const cutoff = setTimeout(
      () => {
        for (const { worker } of alive) if (!worker.isDead()) worker.process.kill('SIGKILL');
      },
      this.config.drainWindow + this.config.drainTimeout + 5_000,
    );
    await Promise.all(exited);
    clearTimeout(cutoff);
    await this.host?.close();
    process.exit(exitCode);
  }
}
