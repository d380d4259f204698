// What the primary and its workers say to each other besides broker calls
// (docs/scaling.md, "Workers"). They share the worker's IPC channel.
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Worker -> primary. */
export type FromWorker =
  | { sb: 'listening'; url: string }
  /** A worker was asked for /metrics: the primary answers with every worker's, merged. */
  | { sb: 'cluster-metrics'; id: number }
  /** This worker's own metrics, asked for by `metrics-of`. */
  | { sb: 'metrics'; id: number; metrics: MetricsJson };

/** Primary -> worker. */
export type FromPrimary =
  | { sb: 'cluster-metrics'; id: number; text: string }
  | { sb: 'metrics-of'; id: number }
  /** Shut down as on SIGTERM: drain, then exit 0. */
  | { sb: 'drain' };
