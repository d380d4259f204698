// `switchboard bench URL`: drive a server with many connections spread over
// worker processes (worker.ts) and 127.0.0.x source addresses, then
// report the rate, latency percentiles, and the generator's CPU beside the
// server's. The fan-out publisher runs here, in the parent process.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { type Command, headerFlags, numberFlag, UsageError } from '../args.js';
import { Histogram } from './histogram.js';
import { explain, refusal, table, unitOf, type BenchResult } from './report.js';
import { nowMicros, type Scenario, type WorkerConfig, type WorkerReport } from './worker.js';
import { gapFromWelcome, rateOfGap } from './pace.js';
import { cpuSeconds, rssKiB } from './proc-stat.js';

const SCENARIOS: Scenario[] = ['fanout', 'echo', 'connect', 'idle', 'broadcast'];
const DEFAULT_CONNECTIONS: Record<Scenario, number> = { fanout: 1000, echo: 100, connect: 50, idle: 10_000, broadcast: 10_000 };
/** broadcast: how long one publication may take to reach every subscriber. */
const ROUND_TIMEOUT_MS = 60_000;
/** Per process: well under the 20,000 descriptors a process may hold here. */
const PER_WORKER = 5_000;
/** Per source address: well under the ~28,000 ephemeral ports of one address. */
const PER_ADDRESS = 20_000;
/**
 * Per source address against a 127.x URL: half a default server's
 * limits.connectionsPerIp (1000), which counts by source address, so a default
 * bench fits a default server (Linux routes all of 127/8 to the loopback).
 */
const PER_LOOPBACK_ADDRESS = 500;

export const bench: Command = {
  spec: {
    name: 'bench',
    summary: 'Load-test a server: fan-out, echo, connect, idle or broadcast; rate, latency percentiles and CPU.',
    args: 'URL',
    positionals: [1, 1],
    flags: {
      scenario: { type: 'string', short: 's', value: 'NAME', default: 'fanout', help: 'fanout | echo | connect | idle | broadcast' },
      connections: {
        type: 'string',
        short: 'n',
        value: 'N',
        help: 'connections (fanout, broadcast: subscribers; connect: concurrent loops); default fanout 1000, echo 100, connect 50, idle and broadcast 10000',
      },
      duration: { type: 'string', short: 'd', value: 'SEC', default: '10', help: 'measured window' },
      warmup: { type: 'string', short: 'w', value: 'SEC', default: '2', help: 'time after connecting before the window' },
      workers: { type: 'string', value: 'N', help: `worker processes (default one per ${PER_WORKER} connections)` },
      addresses: {
        type: 'string',
        value: 'K',
        help: `source addresses 127.0.0.1..127.0.0.K (default one per ${PER_LOOPBACK_ADDRESS} connections against a 127.x URL, under a default server's connectionsPerIp; else one per ${PER_ADDRESS})`,
      },
      handshakes: { type: 'string', value: 'N', default: '100', help: 'handshakes in flight per worker' },
      window: { type: 'string', value: 'N', default: '4', help: 'fanout: publications in flight without a reply' },
      rounds: { type: 'string', value: 'N', default: '5', help: 'broadcast: publications, each sent once the previous one reached every subscriber' },
      payload: { type: 'string', value: 'BYTES', default: '100', help: 'fanout: size of the payload object' },
      channel: { type: 'string', value: 'NAME', default: 'bench', help: 'fanout and idle: the channel subscribed to' },
      token: { type: 'string', value: 'JWT', env: true, help: 'send "Authorization: Bearer JWT"' },
      header: { type: 'string', value: "'NAME: VALUE'", multiple: true, help: 'extra handshake header' },
      'server-pid': {
        type: 'string',
        value: 'PID',
        help: "measure this process's CPU and memory (with its children's: a --workers server) from /proc beside the generator's",
      },
      json: { type: 'boolean', help: 'print the result as one JSON object' },
    },
    notes: [
      'Latency: fanout from publish to delivery, echo from ping to pong, connect from TCP connect to welcome; broadcast sends one',
      'publication at a time and reports when the first, median and last subscriber got it. Percentiles come',
      'from a log-linear histogram accurate to about 3%. Frames are counted by scanning bytes, not parsed. A server with',
      'default limits refuses benchmark loads: bench spreads its connections over 127.0.0.x (connectionsPerIp), keeps each',
      'connection under the message rate the server announces (messagesPerSecond), and names each limit it hits or paces to.',
    ].join('\n'),
    examples: [
      'switchboard bench ws://127.0.0.1:8080/ws --scenario fanout -n 2000 --server-pid "$(pgrep -f "switchboard serve")"',
      'switchboard bench ws://127.0.0.1:8080/ws -s idle -n 10000 --addresses 10 --json',
      'switchboard bench ws://127.0.0.1:8080/ws -s echo -n 100 -d 5',
    ],
  },
  async run({ values, positionals }) {
    const scenario = values.scenario as Scenario;
    if (!SCENARIOS.includes(scenario)) throw new UsageError(`--scenario: expected one of ${SCENARIOS.join(', ')}, got '${scenario}'`);
    const url = new URL(positionals[0]!);
    // The workers' reader speaks plain TCP: benchmark behind TLS termination, not through it.
    if (url.protocol !== 'ws:') throw new UsageError(`URL must start with ws:// (bench does not speak TLS), got '${positionals[0]}'`);
    const connections = values.connections === undefined ? DEFAULT_CONNECTIONS[scenario] : numberFlag(values, 'connections', { min: 1 });
    const workers = values.workers === undefined ? Math.ceil(connections / PER_WORKER) : numberFlag(values, 'workers', { min: 1 });
    // The fan-out publisher is one more connection.
    const perAddress = /^127\./.test(url.hostname) ? PER_LOOPBACK_ADDRESS : PER_ADDRESS;
    const addressCount = values.addresses === undefined ? Math.ceil((connections + 1) / perAddress) : numberFlag(values, 'addresses', { min: 1 });
    if (addressCount > 1 && !/^127\./.test(url.hostname) && url.hostname !== 'localhost') {
      throw new UsageError('--addresses spreads over 127.0.0.x: the URL must name a loopback IPv4 address');
    }
    if (addressCount > 254) throw new UsageError('--addresses: at most 254');
    const headers = headerFlags(values);
    const serverPid = values['server-pid'] === undefined ? null : numberFlag(values, 'server-pid', { min: 1 });
    const result = await runBench({
      url: url.href,
      scenario,
      connections,
      workers: Math.min(workers, connections),
      addresses: Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 1}`),
      headers,
      handshakes: numberFlag(values, 'handshakes', { min: 1 }),
      window: numberFlag(values, 'window', { min: 1 }),
      rounds: numberFlag(values, 'rounds', { min: 1 }),
      payload: numberFlag(values, 'payload', { min: 16 }),
      channel: values.channel as string,
      duration: numberFlag(values, 'duration', { min: 0.1, integer: false }),
      warmup: numberFlag(values, 'warmup', { min: 0, integer: false }),
      serverPid,
      progress: process.stderr.isTTY === true && !values.json,
    });
    process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : table(result));
    if (result.connections.connected === 0) process.exitCode = 1;
  },
};

interface BenchOptions {
  url: string;
  scenario: Scenario;
  connections: number;
  workers: number;
  addresses: string[];
  headers: Record<string, string>;
  handshakes: number;
  window: number;
  rounds: number;
  payload: number;
  channel: string;
  duration: number;
  warmup: number;
  serverPid: number | null;
  progress: boolean;
}

/** The sum of the workers' latest reports, and the histogram of everything reported so far. */
class Totals {
  histogram = new Histogram();
  latest = new Map<ChildProcess, WorkerReport>();

  add(worker: ChildProcess, report: WorkerReport): void {
    this.histogram.add(report.histogram);
    this.latest.set(worker, report);
  }

  sum(key: 'connected' | 'open' | 'count' | 'rateLimited' | 'paced' | 'cpuMicros'): number {
    let total = 0;
    for (const r of this.latest.values()) total += r[key];
    return total;
  }

  merged(key: 'failed' | 'closed'): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.latest.values()) for (const [k, v] of Object.entries(r[key])) out[k] = (out[k] ?? 0) + v;
    return out;
  }
}

interface Mark {
  at: number;
  count: number;
  rateLimited: number;
  paced: number;
  gapMicros: number;
  histogram: Histogram;
  workerCpu: Map<ChildProcess, number>;
  ownCpu: number;
  serverCpu: number | null;
  published: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runBench(o: BenchOptions): Promise<BenchResult> {
  const workerPath = fileURLToPath(new URL('./worker.js', import.meta.url));
  const children: ChildProcess[] = [];
  const totals = new Totals();
  const replies = new Map<ChildProcess, (report: WorkerReport) => void>();
  let connectedWorkers = 0;
  let publisher: Publisher | null = null;

  const cleanup = () => {
    publisher?.stop();
    for (const child of children) if (child.connected) child.send({ type: 'stop' });
    setTimeout(() => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')), 3_000).unref();
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  try {
    // Each worker takes a contiguous share of connections and its own slice of source addresses.
    const connectedAll = new Promise<void>((resolve) => {
      for (let i = 0; i < o.workers; i++) {
        const count = Math.floor(o.connections / o.workers) + (i < o.connections % o.workers ? 1 : 0);
        // Enough addresses: each worker its own; fewer: every worker uses all (the kernel shares their ports).
        const addresses = o.addresses.length >= o.workers ? o.addresses.filter((_, a) => a % o.workers === i) : o.addresses;
        const child = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
        children.push(child);
        child.on('message', (message: { type: 'connected' } | WorkerReport) => {
          if (message.type === 'connected' && ++connectedWorkers === o.workers) resolve();
          if (message.type === 'report') {
            totals.add(child, message);
            replies.get(child)?.(message);
          }
        });
        child.on('exit', (code) => {
          if (code !== 0 && code !== null) process.stderr.write(`bench: worker ${i} exited with ${code}\n`);
        });
        const config: WorkerConfig = { url: o.url, scenario: o.scenario, count, addresses, headers: o.headers, handshakes: o.handshakes, channel: o.channel };
        child.send({ type: 'start', config });
      }
    });
    const poll = () =>
      Promise.all(
        children.map(
          (child) =>
            new Promise<WorkerReport>((resolve) => {
              replies.set(child, resolve);
              child.send({ type: 'report' });
            }),
        ),
      );
    const progress = createProgress(o, totals, () => publisher?.rateLimited ?? 0);
    // Connect phase, with the progress line.
    let connecting = true;
    void connectedAll.then(() => (connecting = false));
    while (connecting) {
      await Promise.race([connectedAll, sleep(500)]);
      await poll();
      progress.draw('connecting');
    }
    if (o.scenario === 'fanout' && totals.sum('connected') > 0) {
      publisher = new Publisher(o);
      await publisher.ready;
      publisher.start();
    }
    if (o.scenario === 'echo' || o.scenario === 'connect') for (const child of children) child.send({ type: 'go' });

    const mark = async (): Promise<Mark> => {
      await poll();
      const own = process.cpuUsage();
      return {
        at: performance.now(),
        count: totals.sum('count'),
        rateLimited: totals.sum('rateLimited') + (publisher?.rateLimited ?? 0),
        paced: totals.sum('paced') + (publisher?.paced ?? 0),
        gapMicros: Math.max(publisher?.gapMicros ?? 0, ...[...totals.latest.values()].map((r) => r.gapMicros)),
        histogram: totals.histogram.clone(),
        workerCpu: new Map([...totals.latest].map(([c, r]) => [c, r.cpuMicros])),
        ownCpu: own.user + own.system,
        serverCpu: o.serverPid === null ? null : cpuSeconds(o.serverPid),
        published: publisher?.published ?? 0,
      };
    };
    const wait = async (seconds: number, label: string) => {
      const end = performance.now() + seconds * 1000;
      while (performance.now() < end) {
        await sleep(Math.min(500, end - performance.now()));
        await poll();
        progress.draw(label);
      }
    };
    await wait(o.warmup, 'warming up');
    if (o.scenario === 'broadcast' && totals.sum('connected') > 0) {
      publisher = new Publisher(o);
      await publisher.ready;
      const start = await mark();
      const rounds: NonNullable<BenchResult['rounds']> = [];
      for (let round = 0; round < o.rounds; round++) {
        const before = await mark();
        const expected = before.count + totals.sum('open');
        publisher.publishOne();
        const deadline = performance.now() + ROUND_TIMEOUT_MS;
        while (totals.sum('count') < expected && performance.now() < deadline) {
          await sleep(20);
          await poll();
          progress.draw(`publication ${round + 1}`);
        }
        const after = await mark();
        const latencies = after.histogram.minus(before.histogram);
        rounds.push({
          deliveries: after.count - before.count,
          first_us: latencies.total ? latencies.percentile(0) : null,
          p50_us: latencies.percentile(50),
          last_us: latencies.total ? latencies.max : null,
        });
      }
      const end = await mark();
      progress.clear();
      return { ...summarise(o, totals, start, end, children.length), rounds };
    }
    const start = await mark();
    await wait(o.duration, 'measuring');
    const end = await mark();
    progress.clear();
    return summarise(o, totals, start, end, children.length);
  } finally {
    cleanup();
  }
}

function summarise(o: BenchOptions, totals: Totals, start: Mark, end: Mark, processes: number): BenchResult {
  const seconds = (end.at - start.at) / 1000;
  const histogram = end.histogram.minus(start.histogram);
  const count = end.count - start.count;
  const workerCpu = [...end.workerCpu].map(([child, cpu]) => (cpu - (start.workerCpu.get(child) ?? 0)) / 1e6);
  const genCpu = workerCpu.reduce((a, b) => a + b, 0) + (end.ownCpu - start.ownCpu) / 1e6;
  const serverCpu = start.serverCpu !== null && end.serverCpu !== null ? end.serverCpu - start.serverCpu : null;
  // Work done per message: a delivery, a round trip (two frames each side) or a connect.
  const perMessage = (cpu: number | null) => (cpu === null || count === 0 ? null : (cpu * 1e6) / count);
  const failures = totals.merged('failed');
  const result: BenchResult = {
    scenario: o.scenario,
    url: o.url,
    connections: {
      asked: o.connections,
      connected: o.scenario === 'connect' ? Math.min(o.connections, totals.sum('connected')) : totals.sum('connected'),
      open: totals.sum('open'),
      failed: Object.values(failures).reduce((a, b) => a + b, 0),
    },
    failures,
    closes: totals.merged('closed'),
    window_s: seconds,
    count,
    rate: count / seconds,
    unit: unitOf(o.scenario),
    ...(o.scenario === 'fanout' || o.scenario === 'broadcast' ? { published: end.published - start.published } : {}),
    latency_us: {
      n: histogram.total,
      p50: histogram.percentile(50),
      p90: histogram.percentile(90),
      p99: histogram.percentile(99),
      max: histogram.total ? histogram.max : null,
    },
    generator: {
      processes: processes + 1,
      cpu_pct: (genCpu / seconds) * 100,
      busiest_worker_cpu_pct: (Math.max(0, ...workerCpu) / seconds) * 100,
      cpu_us_per_message: perMessage(genCpu),
    },
    server:
      o.serverPid === null
        ? null
        : {
            pid: o.serverPid,
            cpu_pct: serverCpu === null ? null : (serverCpu / seconds) * 100,
            rss_kib: rssKiB(o.serverPid),
            cpu_us_per_message: perMessage(serverCpu),
          },
    rate_limited: end.rateLimited,
    ...pacing(totals, end),
    notes: [],
  };
  result.notes = explain(result);
  return result;
}

/** Messages held back under the server's announced rate over the run, and that rate (null when nothing was held back). */
function pacing(totals: Totals, end: Mark): Pick<BenchResult, 'paced' | 'paced_to'> {
  return { paced: end.paced, paced_to: end.paced > 0 && end.gapMicros > 0 ? rateOfGap(end.gapMicros) : null };
}

/** The live line on a terminal: connected, rate and p50/p99 over the last half second. */
function createProgress(o: BenchOptions, totals: Totals, publisherLimited: () => number) {
  let last = { at: performance.now(), count: 0, histogram: new Histogram() };
  return {
    draw(label: string) {
      if (!o.progress) return;
      const now = performance.now();
      const count = totals.sum('count');
      const recent = totals.histogram.minus(last.histogram);
      const rate = ((count - last.count) * 1000) / (now - last.at);
      last = { at: now, count, histogram: totals.histogram.clone() };
      const failed = Object.values(totals.merged('failed')).reduce((a, b) => a + b, 0);
      const fmt = (us: number | null) => (us === null ? '-' : `${(us / 1000).toFixed(1)}ms`);
      const limited = totals.sum('rateLimited') + publisherLimited();
      const parts = [
        label,
        `connected ${totals.sum('open')}/${o.connections}${failed ? ` (${failed} failed)` : ''}`,
        ...(o.scenario === 'idle'
          ? []
          : [`${Math.round(rate).toLocaleString('en-US')} ${unitOf(o.scenario)}`, `p50 ${fmt(recent.percentile(50))} p99 ${fmt(recent.percentile(99))}`]),
        ...(limited ? [`rate_limited ${limited}`] : []),
      ];
      process.stderr.write(`\r\x1b[K${parts.join('  ')}`);
    },
    clear() {
      if (o.progress) process.stderr.write('\r\x1b[K');
    },
  };
}

/** The fan-out publisher: one connection, at most `window` publications without a reply. */
class Publisher {
  readonly ready: Promise<void>;
  published = 0;
  rateLimited = 0;
  /** Publications held back to stay under the server's announced rate (pace.ts). */
  paced = 0;
  gapMicros = 0;
  private lastSent = 0;
  private paceTimer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = 0;
  private nextId = 1;
  private running = false;
  private readonly ws: WebSocket;
  private readonly prefix: string;
  private readonly suffix: string;

  constructor(private readonly o: BenchOptions) {
    // From the last source address: the workers' share of the first ones is a little fuller.
    const localAddress = o.addresses.length > 1 ? o.addresses.at(-1) : undefined;
    this.ws = new WebSocket(o.url, 'switchboard.v1.json', {
      headers: o.headers,
      perMessageDeflate: false,
      skipUTF8Validation: true,
      ...(localAddress ? { localAddress } : {}),
    });
    // {"t":<16 digits>,"p":"xxx"} is o.payload bytes long.
    const pad = 'x'.repeat(Math.max(0, o.payload - '{"t":1234567890123456,"p":""}'.length));
    this.prefix = `{"type":"publish","channel":${JSON.stringify(o.channel)},"payload":{"t":`;
    this.suffix = `,"p":"${pad}"},"id":`;
    this.ready = new Promise((resolve, reject) => {
      this.ws.once('message', (welcome: Buffer) => {
        this.gapMicros = gapFromWelcome(welcome.toString());
        resolve();
      });
      this.ws.once('error', (error) => reject(new Error(`publisher could not connect: ${error.message}`)));
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`publisher refused: ${refusal(res.statusCode ?? 0)}`)));
    });
    this.ws.on('message', (data: Buffer) => {
      // Replies start with {"type":"reply"; a refusal names its code.
      if (data.indexOf('"type":"reply"') !== 0 + 1) return;
      this.inFlight -= 1;
      if (data.indexOf('"ok":false') >= 0 && data.indexOf('rate_limited') >= 0) this.rateLimited += 1;
      this.fill();
    });
    this.ws.on('close', () => (this.running = false));
  }

  start(): void {
    this.running = true;
    this.fill();
  }

  /** One publication, whatever the window (broadcast). */
  publishOne(): void {
    this.published += 1;
    this.ws.send(`${this.prefix}${nowMicros()}${this.suffix}${this.nextId++}}`);
  }

  private fill(): void {
    while (this.running && this.inFlight < this.o.window && this.ws.readyState === WebSocket.OPEN && this.paceTimer === null) {
      const now = nowMicros();
      const wait = this.lastSent + this.gapMicros - now;
      if (wait > 0) {
        this.paced += 1;
        this.paceTimer = setTimeout(
          () => {
            this.paceTimer = null;
            this.fill();
          },
          Math.ceil(wait / 1000),
        );
        return;
      }
      this.lastSent = now;
      this.inFlight += 1;
      this.published += 1;
      this.ws.send(`${this.prefix}${now}${this.suffix}${this.nextId++}}`);
    }
  }

  stop(): void {
    this.running = false;
    if (this.paceTimer !== null) clearTimeout(this.paceTimer);
    this.ws.terminate();
  }
}
