// Shared by bench/storm.mjs and bench/soak.mjs: the server as a child process
// started the way operators start it (`node dist/cli/main.js serve`), probes
// that watch it from outside, and cleanup that leaves no process behind.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const root = new URL('..', import.meta.url).pathname;

// ------------------------------------------------------------------ cleanup

const children = new Set();
/** Kill `child` when this process ends, however it ends. */
export function own(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // it has exited already
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
process.on('uncaughtException', (error) => {
  console.error(error);
  killAll();
  process.exit(1);
});
process.on('unhandledRejection', (error) => {
  console.error(error);
  killAll();
  process.exit(1);
});

// ------------------------------------------------------------------- server

/** A port that was free a moment ago (the server is started on it by number, so that a restart gets the same one). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** A config file in a fresh temp dir; removed when this process exits. */
export function writeConfig(config) {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * `node dist/cli/main.js serve` with `args`; resolves once it prints its
 * "listening" line. `tail()` gives the last lines of its stdout and stderr,
 * `exited` resolves to { code, signal, at } when it ends.
 */
export async function startServer(args, { env = {}, timeout = 15_000 } = {}) {
  const child = own(
    spawn(process.execPath, [...(process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean), join(root, 'dist/cli/main.js'), 'serve', ...args], {
      // Connect/disconnect lines at info would be thousands per second in a storm.
      env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const lines = [];
  const keep = (stream) => (chunk) => {
    for (const line of chunk.toString().split('\n')) if (line) lines.push(`${stream}: ${line}`);
    if (lines.length > 400) lines.splice(0, lines.length - 200);
  };
  child.stdout.on('data', keep('stdout'));
  child.stderr.on('data', keep('stderr'));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: now() })));
  const tail = (n = 20) => lines.slice(-n).join('\n');
  const listening = await Promise.race([
    new Promise((resolve) => {
      const look = (chunk) => {
        const match = /switchboard listening on (\S+)/.exec(chunk.toString());
        if (match) {
          child.stdout.off('data', look);
          resolve(match[1]);
        }
      };
      child.stdout.on('data', look);
    }),
    exited.then((how) => {
      throw new Error(`server exited before listening (code ${how.code}, signal ${how.signal}):\n${tail()}`);
    }),
    sleep(timeout).then(() => {
      throw new Error(`server not listening after ${timeout} ms:\n${tail()}`);
    }),
  ]);
  return { child, pid: child.pid, url: listening, listeningAt: now(), exited, tail };
}

/** Resolves with the first IPC message of `type` from a child process; rejects after `timeout` ms or when the child exits. */
export function waitFor(child, type, timeout, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}`)), timeout);
    const on = (m) => {
      if (m.type !== type) return;
      clearTimeout(timer);
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.once('exit', (code) => reject(new Error(`${what}: worker exited (${code})`)));
  });
}

/**
 * Every publication in the history of `channels`, read with the HTTP API:
 * { byChannel: Map(channel -> publications), errors (channels unreadable),
 * full (channels whose history holds `size` entries: the oldest may be gone) }.
 */
export async function readHistories(baseUrl, apiKey, channels, size) {
  const byChannel = new Map();
  let errors = 0;
  let full = 0;
  for (const channel of channels) {
    const r = await httpRequest(`${baseUrl}/api/history?channel=${encodeURIComponent(channel)}&limit=100000`, {
      headers: { authorization: `apikey ${apiKey}` },
      timeout: 10_000,
    });
    if (r.status !== 200) {
      errors++;
      continue;
    }
    const page = JSON.parse(r.body);
    if (page.publications.length >= size) full++;
    byChannel.set(channel, page.publications);
  }
  return { byChannel, errors, full };
}

/** Resident set size of a process in bytes (Linux), or null once it is gone. */
export function rssOf(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

// ------------------------------------------------------------------- probes

/** One HTTP request; resolves { status, ms, body } or { error, ms } (never rejects). */
export function httpRequest(url, { method = 'GET', headers = {}, body, timeout = 2_000 } = {}) {
  const started = now();
  return new Promise((resolve) => {
    const req = http.request(url, { method, headers, agent: false, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, ms: now() - started, body: Buffer.concat(chunks).toString() }));
      res.on('error', (error) => resolve({ error: error.code ?? error.message, ms: now() - started }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (error) => resolve({ error: error.code ?? error.message, ms: now() - started }));
    req.end(body);
  });
}

/**
 * Every `every` ms, start one `probe()` without waiting for the previous one,
 * so that a stalled server shows up as many slow answers, not as few probes.
 * stop() waits for those in flight and returns [{ at, ...result }].
 */
export function repeat(every, probe) {
  const results = [];
  const inFlight = new Set();
  const timer = setInterval(() => {
    const at = now();
    const p = probe().then((r) => results.push({ at, ...r }));
    inFlight.add(p);
    p.finally(() => inFlight.delete(p));
  }, every);
  return {
    results,
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return results.sort((a, b) => a.at - b.at);
    },
  };
}

/** Open a raw WebSocket and classify the answer: `http 101`, `http 503`, ECONNREFUSED, timeout... */
export function upgradeProbe(wsUrl, timeout = 2_000) {
  const started = now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (kind) => {
      if (done) return;
      done = true;
      resolve({ kind, ms: now() - started });
    };
    const ws = new WebSocket(wsUrl, ['switchboard.v1.json'], { handshakeTimeout: timeout, perMessageDeflate: false });
    ws.on('upgrade', () => finish('http 101'));
    ws.on('open', () => ws.terminate());
    ws.on('unexpected-response', (req, res) => {
      finish(`http ${res.statusCode}`);
      req.destroy();
    });
    ws.on('error', (error) => finish(/timed out/.test(error.message) ? 'timeout' : (error.code ?? error.message.slice(0, 40))));
  });
}

/** The server's own event-loop delay, from prom-client's default metrics (max and p99 since the last scrape). */
export async function scrapeLag(baseUrl) {
  const r = await httpRequest(`${baseUrl}/metrics`, { timeout: 5_000 });
  if (r.error || r.status !== 200) return { error: r.error ?? `http ${r.status}`, ms: r.ms };
  const read = (name) => {
    const match = new RegExp(`^switchboard_${name}(?:\\{[^}]*\\})? ([\\d.eE+-]+)$`, 'm').exec(r.body);
    return match ? Number(match[1]) * 1000 : null;
  };
  return { maxMs: read('nodejs_eventloop_lag_max_seconds'), p99Ms: read('nodejs_eventloop_lag_p99_seconds'), ms: r.ms };
}

// -------------------------------------------------------------------- stats

/** The p-quantile (0..1) of numbers, by sorting; null when there are none. */
export function quantile(values, p) {
  if (values.length === 0) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

export function countBy(items, key) {
  const counts = {};
  for (const item of items) counts[key(item)] = (counts[key(item)] ?? 0) + 1;
  return counts;
}

export function addCounts(into, from) {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
  return into;
}

/**
 * What the SDK clients of the storm workers' reports went through: their
 * attempts (`reconnects` of them got a welcome), why the others failed as
 * `ws` saw it, and how connections were dropped, by close code and reason.
 */
export function clientTally(reports, reconnects) {
  const attemptErrors = {};
  const disconnects = {};
  for (const r of reports) (addCounts(attemptErrors, r.attemptErrors), addCounts(disconnects, r.disconnects));
  const attempts = reports.reduce((total, r) => total + r.attempts, 0);
  return {
    reconnectAttempts: attempts,
    reconnects,
    failedAttempts: attempts - reconnects,
    // The SDK's reasons for dropping an attempt or a connection it could not hear from.
    connectTimeouts: disconnects['1006 no welcome in time'] ?? 0,
    heartbeatTimeouts: disconnects['1006 heartbeat timeout'] ?? 0,
    attemptErrors,
    disconnects,
  };
}

export const fmt = (n, digits = 0) =>
  n === null || n === undefined || Number.isNaN(n) ? '–' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
export const ms = (n) => (n === null || n === undefined ? '–' : `${fmt(n, n < 10 ? 1 : 0)} ms`);
export const mib = (bytes) => (bytes === null || bytes === undefined ? '–' : `${fmt(bytes / 1048576, 1)} MiB`);
export const counts = (obj) =>
  Object.entries(obj ?? {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k}: ${fmt(v)}`)
    .join(', ') || 'none';

/** A two-column markdown table. */
export function table(rows) {
  const out = ['| measure | value |', '|---|---|'];
  for (const [name, value] of rows) out.push(name === null ? `| **${value}** | |` : `| ${name} | ${value} |`);
  return out.join('\n');
}
