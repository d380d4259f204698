// What `bench` found, as a table or JSON, with the server limits it ran into
// named (docs/security.md lists each bound) and a warning when the generator,
// not the server, was the bottleneck.
import type { Scenario } from './worker.js';

export interface BenchResult {
  scenario: Scenario;
  url: string;
  connections: { asked: number; connected: number; open: number; failed: number };
  failures: Record<string, number>;
  closes: Record<string, number>;
  window_s: number;
  /** deliveries (fanout), round trips (echo), connects (connect); 0 for idle */
  count: number;
  rate: number;
  unit: string;
  published?: number;
  /**
   * broadcast: one publication at a time to every subscriber; per round, µs from
   * the publish to the first subscriber's receipt, the median's, and the last's.
   */
  rounds?: Array<{ deliveries: number; first_us: number | null; p50_us: number | null; last_us: number | null }>;
  latency_us: { n: number; p50: number | null; p90: number | null; p99: number | null; max: number | null };
  generator: { processes: number; cpu_pct: number; busiest_worker_cpu_pct: number; cpu_us_per_message: number | null };
  server: { pid: number; cpu_pct: number | null; rss_kib: number | null; cpu_us_per_message: number | null } | null;
  rate_limited: number;
  /** Messages (echo pings, fan-out publications) held back to stay under the server's announced per-connection rate. */
  paced: number;
  /** That rate, messages per second per connection, when anything was held back; null otherwise. */
  paced_to: number | null;
  notes: string[];
}

const UNITS: Record<Scenario, string> = { fanout: 'deliveries/s', echo: 'round trips/s', connect: 'connects/s', idle: '', broadcast: 'deliveries/s' };
export const unitOf = (scenario: Scenario) => UNITS[scenario];

/** A refused handshake's status, with the server limit it means and how to lift it. */
export function refusal(status: number): string {
  switch (status) {
    case 429:
      return "429 too_many_connections: the server's limits.connectionsPerIp (default 1000) was reached; raise it, or spread over more source addresses with --addresses";
    case 503:
      return '503: limits.maxConnections (default 100000) reached, or the server is draining';
    case 401:
    case 403:
      return `${status}: the server wants a token (--token) or another origin or header (--header)`;
    default:
      return String(status);
  }
}

/** One sentence per limit or bottleneck the run hit. */
export function explain(result: BenchResult): string[] {
  const notes: string[] = [];
  for (const [reason, count] of Object.entries(result.failures)) {
    const status = /^(\d{3})\b/.exec(reason)?.[1];
    if (status === '429' || status === '503') {
      notes.push(`${count} handshakes refused with ${refusal(Number(status))}`);
    } else if (reason === 'ECONNRESET' || reason === 'EPIPE' || reason.includes('socket hang up')) {
      notes.push(
        `${count} connections reset before the handshake was answered: likely limits.pendingConnectionsPerIp (default 1000) or the listen backlog; lower --handshakes or raise the limit`,
      );
    } else if (reason === 'EADDRNOTAVAIL') {
      notes.push(`${count} connections found no free source port: add source addresses with --addresses`);
    } else if (reason === 'EMFILE' || reason === 'ENFILE') {
      notes.push(`${count} connections failed for lack of file descriptors: add --workers, or raise ulimit -n`);
    } else if (reason === 'ECONNREFUSED') {
      notes.push(`${count} connections refused: nothing listens at ${result.url}`);
    } else {
      notes.push(`${count} connections failed: ${reason}`);
    }
  }
  const rateClosed = result.closes['4029'] ?? 0;
  if (result.rate_limited > 0 || rateClosed > 0) {
    notes.push(
      `the server answered ${result.rate_limited} requests with rate_limited${rateClosed ? ` and closed ${rateClosed} connections with 4029` : ''}: limits.messagesPerSecond and limits.burst (default 100 and 200 per connection) are below this load; raise them for benchmarks`,
    );
  }
  if (result.paced_to !== null) {
    notes.push(
      `${result.paced} messages were held back to stay under the ${result.paced_to} messages/s per connection the server announces (limits.messagesPerSecond): this rate is that limit's, not the server's ceiling; raise limits.messagesPerSecond and limits.burst for benchmarks`,
    );
  }
  const slow = result.closes['4008'] ?? 0;
  if (slow > 0)
    notes.push(
      `${slow} connections closed with 4008 slow consumer: the generator did not read fast enough (it was the bottleneck), or limits.outboundBufferBytes is small`,
    );
  const otherCloses = Object.entries(result.closes).filter(([code]) => code !== '4029' && code !== '4008');
  for (const [code, count] of otherCloses) notes.push(`${count} connections closed by the server with ${code} during the run`);
  if (result.generator.busiest_worker_cpu_pct > 90) {
    notes.push(
      `the generator was the bottleneck: a worker used ${Math.round(result.generator.busiest_worker_cpu_pct)}% of a core; add --workers for a truer figure`,
    );
  }
  const gen = result.generator.cpu_us_per_message;
  const srv = result.server?.cpu_us_per_message;
  if (gen !== null && srv !== null && srv !== undefined && gen >= srv) {
    notes.push(
      `the generator spent more CPU per message (${gen.toFixed(2)} µs) than the server (${srv.toFixed(2)} µs): on a shared machine it may have slowed the server`,
    );
  }
  return notes;
}

function ms(us: number | null): string {
  return us === null ? '-' : us < 1000 ? `${Math.round(us)} µs` : `${(us / 1000).toFixed(2)} ms`;
}

export function table(result: BenchResult): string {
  const r = result;
  const rows: [string, string][] = [
    ['scenario', `${r.scenario} against ${r.url}`],
    ['connections', `${r.connections.connected} of ${r.connections.asked} connected, ${r.connections.open} open at the end, ${r.connections.failed} failed`],
  ];
  if (r.rounds) {
    for (const [i, round] of r.rounds.entries()) {
      rows.push([
        `publication ${i + 1}`,
        `${round.deliveries.toLocaleString('en-US')} delivered: first ${ms(round.first_us)}  median ${ms(round.p50_us)}  last ${ms(round.last_us)}`,
      ]);
    }
  } else if (r.scenario !== 'idle') {
    rows.push(['window', `${r.window_s.toFixed(1)} s`]);
    rows.push([
      'rate',
      `${Math.round(r.rate).toLocaleString('en-US')} ${r.unit} (${r.count.toLocaleString('en-US')} in the window${r.published !== undefined ? `, ${r.published.toLocaleString('en-US')} publications` : ''})`,
    ]);
    rows.push([
      'latency',
      `p50 ${ms(r.latency_us.p50)}  p90 ${ms(r.latency_us.p90)}  p99 ${ms(r.latency_us.p99)}  max ${ms(r.latency_us.max)}  (n=${r.latency_us.n})`,
    ]);
  }
  const perMsg = (v: number | null | undefined) => (v === null || v === undefined ? '' : `, ${v.toFixed(2)} µs per message`);
  rows.push(['generator CPU', `${r.generator.cpu_pct.toFixed(0)}% of a core over ${r.generator.processes} processes${perMsg(r.generator.cpu_us_per_message)}`]);
  if (r.server) {
    rows.push([
      'server CPU',
      `${r.server.cpu_pct === null ? 'unreadable' : `${r.server.cpu_pct.toFixed(0)}% of a core`} (pid ${r.server.pid})${perMsg(r.server.cpu_us_per_message)}${r.server.rss_kib !== null ? `, RSS ${Math.round(r.server.rss_kib / 1024)} MiB` : ''}`,
    ]);
  } else rows.push(['server CPU', 'not measured (give --server-pid PID)']);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = rows.map(([k, v]) => `${k.padEnd(width)}${v}`);
  for (const note of r.notes) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}
