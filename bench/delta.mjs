// Fossil deltas: bytes on the wire and server CPU per delivery for a 5 KB JSON
// document with one field changing per publication, with and without deltas,
// in one run with the two modes alternating round by round.
//
//   npm run build && node bench/delta.mjs [--subscribers 100] [--messages 500] [--rounds 3] [--window 20] [--port 18601]
//
// The server runs as `switchboard serve` in its own process; its CPU is read
// from /proc/<pid>/stat (user + system) around each round. Subscribers and the
// publisher share this process; subscribers count frames and socket bytes
// without parsing. The publisher stays at most `window` publications ahead of
// the slowest subscriber. No permessage-deflate: the bytes are the frames'.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { fmt, startServer, writeConfig } from './harness.mjs';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100' },
    messages: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    window: { type: 'string', default: '20' },
    port: { type: 'string', default: '18601' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const MESSAGES = Number(values.messages);
const ROUNDS = Number(values.rounds);
const WINDOW = Number(values.window);
const TICKS_PER_SECOND = 100; // Linux USER_HZ

/** The scoreboard: 72 rows, about 5 KB of JSON; publication `i` changes one row's score. */
const rows = Array.from({ length: 72 }, (_, i) => ({
  id: i,
  player: `player-${String(i).padStart(3, '0')}`,
  team: i % 2 ? 'red' : 'blue',
  score: 1000 + i,
  streak: i % 7,
}));
function documentAt(i) {
  rows[i % rows.length].score += 1;
  return { title: 'league scoreboard, round 12', updated: 1765000000000, rows };
}

function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND; // utime, stime
}

function open(url) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('error', reject);
    ws.once('message', () => resolve(ws)); // the welcome
  });
}

/** How many subscribers have received at least k publications, and a wait for all of them to: no polling. */
function progress() {
  const reached = new Uint32Array(MESSAGES + 1);
  let all = 0;
  let waiter = null;
  return {
    received(k) {
      if (++reached[k] === SUBSCRIBERS) {
        all = k;
        if (waiter && all >= waiter.k) waiter.resolve();
      }
    },
    until(k) {
      return all >= k ? Promise.resolve() : new Promise((resolve) => (waiter = { k, resolve }));
    },
  };
}

async function subscriber(url, channel, delta, track) {
  const ws = await open(url);
  const sub = { ws, received: 0, bytesAtStart: 0 };
  await new Promise((resolve) => {
    ws.once('message', resolve); // the reply
    ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel, ...(delta ? { delta: 'fossil' } : {}) }));
  });
  ws.on('message', () => track.received(++sub.received));
  sub.bytesAtStart = ws._socket.bytesRead;
  return sub;
}

async function round(server, url, publisher, mode, index) {
  const channel = `doc:${mode}-${index}`;
  const track = progress();
  const subs = await Promise.all(Array.from({ length: SUBSCRIBERS }, () => subscriber(url, channel, mode === 'delta', track)));
  const cpuBefore = cpuSeconds(server.pid);
  const started = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    publisher.send(JSON.stringify({ type: 'publish', channel, payload: documentAt(i) }));
    if (i + 1 > WINDOW) await track.until(i + 1 - WINDOW);
  }
  await track.until(MESSAGES);
  const seconds = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  const bytes = subs.reduce((sum, s) => sum + s.ws._socket.bytesRead - s.bytesAtStart, 0);
  await Promise.all(subs.map((s) => new Promise((resolve) => (s.ws.once('close', resolve), s.ws.close()))));
  const deliveries = SUBSCRIBERS * MESSAGES;
  return { mode, bytesPerDelivery: bytes / deliveries, cpuMicrosPerDelivery: (cpu * 1e6) / deliveries, deliveriesPerSecond: deliveries / seconds };
}

const config = writeConfig({
  limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, bytesPerSecond: 1_000_000_000, bytesBurst: 1_000_000_000 },
  namespaces: { doc: { delta: 'fossil', history: { size: 10, ttl: 60_000 } } },
});
const server = await startServer(['--port', values.port, '--host', '127.0.0.1', '--config', config]);
const url = `${server.url.replace(/^http/, 'ws')}/ws`;
const publisher = await open(url);
console.log(`document: ${JSON.stringify(documentAt(0)).length} bytes of JSON; ${SUBSCRIBERS} subscribers x ${MESSAGES} publications per round`);
const loadBefore = loadavg();
const results = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of r % 2 ? ['delta', 'full'] : ['full', 'delta']) {
    const result = await round(server, url, publisher, mode, r);
    results.push(result);
    console.log(
      `round ${r + 1} ${mode}: ${fmt(result.bytesPerDelivery)} B, ${fmt(result.cpuMicrosPerDelivery, 2)} µs CPU per delivery, ${fmt(result.deliveriesPerSecond)}/s`,
    );
  }
}
const loadAfter = loadavg();
publisher.close();
server.child.kill('SIGTERM');
await server.exited;

const median = (mode, key) => {
  const sorted = results
    .filter((r) => r.mode === mode)
    .map((r) => r[key])
    .sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
console.log('| mode | wire bytes / delivery | server CPU µs / delivery | deliveries/s |\n|---|---:|---:|---:|');
for (const mode of ['full', 'delta']) {
  console.log(
    `| ${mode} | ${fmt(median(mode, 'bytesPerDelivery'))} | ${fmt(median(mode, 'cpuMicrosPerDelivery'), 2)} | ${fmt(median(mode, 'deliveriesPerSecond'))} |`,
  );
}
console.log(
  `delta / full: bytes ${fmt(median('delta', 'bytesPerDelivery') / median('full', 'bytesPerDelivery'), 3)}, CPU ${fmt(median('delta', 'cpuMicrosPerDelivery') / median('full', 'cpuMicrosPerDelivery'), 2)}`,
);
console.log(`load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
