// Resubscribe storm on Redis: how many Redis commands, and how long, it takes
// `--clients` clients to come back at once, each resubscribing with `since`
// (the position it last saw) to one of `--channels` channels with history.
//
//   npm run build && node bench/resubscribe.mjs [--clients 2000] [--channels 20] [--missed 5] [--presence]
//                                               [--connected] [--json]
//
// A private redis-server (on a free port, so its INFO commandstats count only
// this run) and `node dist/cli/main.js serve --redis` are started. The clients
// connect and subscribe; `--missed` publications are made on every channel
// while they are gone; the Redis counters are reset; then every client
// reconnects at once and subscribes with `since`. Counted from the reset until
// every client has its reply and every missed publication: Redis commands by
// name, the time from the first connect (with --connected: from the first
// subscribe) to each reply, and the CPU time the server and Redis spent. Every
// client must get exactly the publications it missed, in order, once.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { fmt, freePort, ms, now, own, quantile, sleep, startServer, table, writeConfig } from './harness.mjs';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    channels: { type: 'string', default: '20' },
    /** Publications made on every channel while the clients are away. */
    missed: { type: 'string', default: '5' },
    /** Seconds to wait for all clients to be back. */
    timeout: { type: 'string', default: '60' },
    /** Connect every client first, then send every subscribe at once: the subscribes alone, without the handshakes. */
    connected: { type: 'boolean', default: false },
    /** The namespace keeps presence (each subscribe then also writes its entry). */
    presence: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const CLIENTS = Number(values.clients);
const CHANNELS = Number(values.channels);
const MISSED = Number(values.missed);
const TIMEOUT = Number(values.timeout) * 1000;
const log = (...args) => console.error('[resubscribe]', ...args);

// ------------------------------------------------------------------ Redis

const redisPort = await freePort();
const redisChild = own(
  spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] }),
);
await new Promise((resolve, reject) => {
  let out = '';
  redisChild.stdout.on('data', (chunk) => {
    out += chunk;
    if (out.includes('Ready to accept connections')) resolve();
  });
  redisChild.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
});
const redis = new Redis({ port: redisPort, host: '127.0.0.1' });

/** CPU seconds Redis used so far (user + system), from INFO cpu. */
async function redisCpu() {
  const text = await redis.info('cpu');
  const read = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)[1]);
  return read('used_cpu_user') + read('used_cpu_sys');
}

/** CPU seconds a process used so far (user + system), from /proc/<pid>/stat. */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Calls per command name since the last CONFIG RESETSTAT, from INFO commandstats. */
async function commandStats() {
  const text = await redis.info('commandstats');
  const calls = {};
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]] = Number(match[2]);
  return calls;
}

// ----------------------------------------------------------------- server

const port = await freePort();
const apiKey = randomUUID();
const config = {
  limits: { connectionsPerIp: 100_000, pendingConnectionsPerIp: 100_000, messagesPerSecond: 100_000, burst: 100_000 },
  // Every client is let in at once: what is measured is the resubscribes, not admission's turn-aways.
  admission: { maxHandshakes: 1_000_000, maxLagMs: 1_000_000 },
  namespaces: { '': { history: { size: 1_000, ttl: 900_000 }, presence: values.presence } },
};
const server = await startServer([
  '--port',
  String(port),
  '--host',
  '127.0.0.1',
  '--config',
  writeConfig(config),
  '--redis',
  `redis://127.0.0.1:${redisPort}`,
  '--api-key',
  apiKey,
]);
const wsUrl = `ws://127.0.0.1:${port}/ws`;
const channelOf = (i) => `resub-${i % CHANNELS}`;

// ---------------------------------------------------------------- clients

/**
 * One client: connects, subscribes (with `since` once it has a position) and
 * keeps the offsets it receives. `connect()` resolves with the reply's time.
 */
class Client {
  constructor(index) {
    this.channel = channelOf(index);
    this.position = null;
    this.offsets = [];
    this.ws = null;
  }

  /** Connect and subscribe; with `hold`, resolves at the welcome and subscribes on subscribe(). */
  connect(hold = false) {
    return new Promise((resolve, reject) => {
      const ws = (this.ws = new WebSocket(wsUrl, { perMessageDeflate: false }));
      this.failed = reject;
      ws.on('error', reject);
      ws.on('close', (code, reason) => this.failed(new Error(`closed with ${code} ${reason} before its subscribe was answered`)));
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString());
        if (frame.type === 'welcome') {
          if (hold) resolve(now());
          else this.subscribe().then(resolve, reject);
        } else if (frame.type === 'reply' && frame.id === 1) {
          if (!frame.ok) return this.failed(new Error(JSON.stringify(frame.error)));
          this.recovered = frame.payload.recovered;
          if (!this.position || !frame.payload.recovered) this.position = { epoch: frame.payload.epoch, offset: frame.payload.offset };
          this.replied(now());
        } else if (frame.type === 'message') {
          this.offsets.push(frame.offset);
          this.position = { epoch: this.position.epoch, offset: frame.offset };
          this.onMessage?.();
        }
      });
    });
  }

  subscribe() {
    const answered = new Promise((resolve, reject) => {
      this.replied = resolve;
      this.failed = reject;
    });
    this.ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: this.channel, ...(this.position ? { since: this.position } : {}) }));
    return answered;
  }

  close() {
    return new Promise((resolve) => {
      this.ws.once('close', resolve);
      this.ws.close();
    });
  }
}

async function publish(channel, payload) {
  const response = await fetch(`http://127.0.0.1:${port}/api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `apikey ${apiKey}` },
    body: JSON.stringify({ channel, payload }),
  });
  if (!response.ok) throw new Error(`publish: ${response.status} ${await response.text()}`);
  return (await response.json()).offset;
}

const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(i));
// First subscribe, in waves, so that the setup is not a storm of its own.
for (let i = 0; i < CLIENTS; i += 200) await Promise.all(clients.slice(i, i + 200).map((client) => client.connect()));
log(`${CLIENTS} clients subscribed to ${CHANNELS} channels`);
await Promise.all(clients.map((client) => client.close()));
// Publications the clients miss while they are away.
const newest = new Map();
for (let c = 0; c < CHANNELS; c++) for (let m = 0; m < MISSED; m++) newest.set(channelOf(c), await publish(channelOf(c), { m }));
// Let the server finish its work for the departures (presence removals) before counting.
await sleep(1_000);
for (const client of clients) client.offsets = [];

// ------------------------------------------------------------------ storm

if (values.connected) await Promise.all(clients.map((client) => client.connect(true)));
await redis.config('RESETSTAT');
// What the server sends, each command once (INFO commandstats also counts the
// commands a script runs): MONITOR tags those run by a script as 'lua'.
const sent = {};
const monitor = await redis.monitor();
monitor.on('monitor', (_time, args, source) => {
  if (source === 'lua') return;
  const name = String(args[0]).toLowerCase();
  sent[name] = (sent[name] ?? 0) + 1;
});
const loadBefore = loadavg()[0];
let caughtUp = 0;
const allCaughtUp = new Promise((resolve) => {
  for (const client of clients) {
    const want = newest.get(client.channel);
    client.onMessage = () => {
      if (client.position.offset === want && ++caughtUp === CLIENTS) resolve();
    };
  }
});
const cpuBefore = [cpuOf(server.pid), await redisCpu()];
const started = now();
const replies = await Promise.race([
  Promise.all(clients.map((client) => (values.connected ? client.subscribe() : client.connect()))),
  sleep(TIMEOUT).then(() => {
    throw new Error(`not every client was back within ${TIMEOUT} ms`);
  }),
]);
const allReplied = now();
await Promise.race([allCaughtUp, sleep(TIMEOUT).then(() => Promise.reject(new Error(`${CLIENTS - caughtUp} clients never caught up`)))]);
const allDelivered = now();
const cpuAfter = [cpuOf(server.pid), await redisCpu()];
monitor.disconnect();
const stats = await commandStats();
const loadAfter = loadavg()[0];

// Every client got exactly what it missed, in order, once.
let wrong = 0;
for (const client of clients) {
  const want = newest.get(client.channel);
  const expected = Array.from({ length: MISSED }, (_, k) => want - MISSED + 1 + k);
  if (!client.recovered || JSON.stringify(client.offsets) !== JSON.stringify(expected)) wrong++;
}

// INFO and CONFIG are this script's own.
for (const own of ['info', 'config|resetstat', 'monitor']) {
  delete stats[own];
  delete sent[own];
}
const sum = (calls) => Object.values(calls).reduce((a, b) => a + b, 0);
const total = sum(sent);
const latencies = replies.map((at) => at - started);
const result = {
  clients: CLIENTS,
  channels: CHANNELS,
  missed: MISSED,
  presence: values.presence,
  /** Commands the server sent (MONITOR, without those scripts run). */
  redisCommands: total,
  perSubscribe: total / CLIENTS,
  sent: sortedCounts(sent),
  /** INFO commandstats: what Redis executed, scripts' own commands included. */
  executed: sum(stats),
  commands: sortedCounts(stats),
  connected: values.connected,
  serverCpu: (cpuAfter[0] - cpuBefore[0]) * 1000,
  redisCpu: (cpuAfter[1] - cpuBefore[1]) * 1000,
  replyP50: quantile(latencies, 0.5),
  replyP99: quantile(latencies, 0.99),
  allReplied: allReplied - started,
  allDelivered: allDelivered - started,
  wrongRecoveries: wrong,
  loadAverage: [loadBefore, loadAfter],
};

await Promise.all(clients.map((client) => client.close()));
server.child.kill('SIGTERM');
await server.exited;
await redis.quit();
redisChild.kill('SIGKILL');

function sortedCounts(calls) {
  return Object.fromEntries(Object.entries(calls).sort((a, b) => b[1] - a[1]));
}
function byName(calls) {
  return Object.entries(calls)
    .map(([name, n]) => `${name} ${fmt(n)}`)
    .join(', ');
}

if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(
    table([
      ['clients / channels / missed per channel', `${fmt(CLIENTS)} / ${fmt(CHANNELS)} / ${fmt(MISSED)}${values.presence ? ', presence on' : ''}`],
      ['Redis commands sent by the server', fmt(total)],
      ['per resubscribe', fmt(result.perSubscribe, 2)],
      ['sent, by command', byName(result.sent)],
      ['executed (with those scripts ran), by command', `${fmt(result.executed)}: ${byName(result.commands)}`],
      [values.connected ? 'subscribe to reply, p50 / p99' : 'connect to reply, p50 / p99', `${ms(result.replyP50)} / ${ms(result.replyP99)}`],
      ['all replied', ms(result.allReplied)],
      ['all caught up', ms(result.allDelivered)],
      ['CPU: server / Redis', `${ms(result.serverCpu)} / ${ms(result.redisCpu)}`],
      ['clients not given exactly what they missed', fmt(wrong)],
      ['load average (1 min) before / after', `${fmt(loadBefore, 2)} / ${fmt(loadAfter, 2)}`],
    ]),
  );
}
process.exit(wrong === 0 ? 0 : 1);
