// Prometheus metrics, read from the core's counters when scraped so that the
// hot path only increments plain numbers.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Core } from './core.js';

export function createMetrics(core: Core): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_process_' });
  new Gauge({
    name: 'switchboard_connections',
    help: 'Open WebSocket connections on this node',
    registers: [registry],
    collect() {
      this.set(core.sessions.size);
    },
  });
  new Gauge({
    name: 'switchboard_channels',
    help: 'Channels with at least one subscriber on this node',
    registers: [registry],
    collect() {
      this.set(core.hub.localChannelCount());
    },
  });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  new Counter({
    name: 'switchboard_limit_hits_total',
    help: 'Times a bound was hit (refused, evicted or closed), by the limit\'s config key',
    labelNames: ['limit'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [limit, count] of core.limitHits.entries()) this.inc({ limit }, count);
      for (const [limit, count] of core.broker.limitHits?.() ?? []) this.inc({ limit }, count);
    },
  });
  counter('switchboard_frames_received_total', 'Frames received from clients', () => core.counters.received);
  counter('switchboard_bad_requests_total', 'Frames refused as bad_request', () => core.counters.badRequests);
  counter('switchboard_rate_limited_total', 'Frames refused as rate_limited', () => core.counters.rateLimited);
  counter('switchboard_publications_total', 'Publications received from the broker', () => core.hub.stats.publications);
  counter('switchboard_messages_delivered_total', 'Message frames sent to subscribers', () => core.hub.stats.delivered);
  return registry;
}
