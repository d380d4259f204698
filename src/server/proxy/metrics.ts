// The backend proxy's figures on /metrics (docs/operations.md, "Metrics"):
// calls by kind and outcome, their latency by kind, and calls in flight.
import type { Registry } from 'prom-client';
import { LATENCY_BUCKETS, promClient } from '../metrics.js';
import type { ProxyCaller } from './caller.js';

/** Once the server's registry is built (ServerMetrics.extend); calls settled before are replayed by the server. */
export function registerProxyMetrics(registry: Registry, caller: ProxyCaller): void {
  const { Counter, Gauge, Histogram } = promClient();
  const registers = [registry];
  const calls = new Counter({
    name: 'switchboard_proxy_calls_total',
    help: 'Backend proxy calls by kind (connect, refresh, subscribe, publish, rpc) and result (result, error, disconnect, or how it failed)',
    labelNames: ['kind', 'result'],
    registers,
  });
  const seconds = new Histogram({
    name: 'switchboard_proxy_call_duration_seconds',
    help: 'Time from a backend proxy call to its answer or failure, by kind',
    labelNames: ['kind'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  new Gauge({
    name: 'switchboard_proxy_calls_in_flight',
    help: 'Backend proxy calls waiting for an answer now (proxy.concurrency bounds it)',
    registers,
    collect() {
      this.set(caller.inFlight);
    },
  });
  caller.observer = (kind, result, elapsed) => {
    calls.inc({ kind, result });
    // A call refused at once (over proxy.concurrency) never reached the backend: no latency to tell.
    if (result !== 'overloaded') seconds.observe({ kind }, elapsed);
  };
}
