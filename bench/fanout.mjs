// Fan-out benchmark: one publisher, N subscribers of one channel, against a
// plain `ws` broadcaster, Socket.IO and Switchboard, measured in the same run
// with rounds interleaved so that drift in the machine's speed hits all three.
//
//   npm run build && node bench/fanout.mjs [--subscribers 1000] [--messages 2000]
//                                          [--rounds 3] [--children 4] [--window 100] [--rate 0]
//
// Each server runs in its own process; subscribers are spread over child
// processes; the publisher stays at most `window` messages ahead of the
// slowest subscriber, so the figure is sustained throughput, not buffering.
// With --rate N it publishes N messages per second instead, for latency at a
// load every server can sustain.
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { io } from 'socket.io-client';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    messages: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    children: { type: 'string', default: '4' },
    window: { type: 'string', default: '100' },
    rate: { type: 'string', default: '0' },
    // Also available: switchboard-redis (needs a Redis).
    kinds: { type: 'string', default: 'ws,socketio,switchboard' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const MESSAGES = Number(values.messages);
const CHILDREN = Number(values.children);
const WINDOW = Number(values.window);
const RATE = Number(values.rate);
const KINDS = values.kinds.split(',');
const here = new URL('.', import.meta.url).pathname;
const now = () => performance.timeOrigin + performance.now();
const PAD = 'x'.repeat(64);

function once(child, type) {
  return new Promise((resolve) => {
    const on = (m) => m.type === type && (child.off('message', on), resolve(m));
    child.on('message', on);
  });
}

async function memory(server) {
  const reply = once(server, 'memory');
  server.send('memory');
  return reply;
}

async function publisherFor(kind, url) {
  if (kind === 'socketio') {
    const socket = io(url, { transports: ['websocket'], reconnection: false });
    await new Promise((resolve) => socket.on('connect', resolve));
    return { send: (payload) => socket.emit('publish', { channel: 'bench', payload }), close: () => socket.close() };
  }
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve) => ws.on('open', resolve));
  return {
    send: (payload) => ws.send(JSON.stringify({ type: 'publish', channel: 'bench', payload })),
    close: () => ws.close(),
  };
}

async function round(kind) {
  const server = fork(`${here}servers/${kind}-server.mjs`, [], { execArgv: ['--expose-gc'] });
  const { port, path } = await once(server, 'listening');
  const url = kind === 'socketio' ? `http://127.0.0.1:${port}` : `ws://127.0.0.1:${port}${path}`;
  const base = await memory(server);

  const perChild = Math.ceil(SUBSCRIBERS / CHILDREN);
  const progress = new Array(CHILDREN).fill(0);
  let wake = () => {};
  const children = [];
  for (let i = 0; i < CHILDREN; i++) {
    const child = fork(`${here}subscribers.mjs`, [kind, url, String(perChild), String(MESSAGES)]);
    child.on('message', (m) => {
      if (m.type === 'progress') {
        progress[i] = m.n;
        wake();
      }
    });
    children.push(child);
  }
  await Promise.all(children.map((c) => once(c, 'ready')));
  const connected = await memory(server);
  const done = children.map((c) => once(c, 'done'));

  const publisher = await publisherFor(kind, url);
  const started = now();
  for (let n = 1; n <= MESSAGES; n++) {
    while (n - Math.min(...progress) > WINDOW) await new Promise((resolve) => (wake = resolve));
    if (RATE > 0) {
      const due = started + ((n - 1) * 1000) / RATE;
      if (due > now()) await new Promise((resolve) => setTimeout(resolve, due - now()));
    }
    publisher.send({ n, t: now(), pad: PAD });
  }
  const results = await Promise.all(done);
  const elapsed = (now() - started) / 1000;
  const after = await memory(server);

  publisher.close();
  for (const child of children) child.kill();
  server.kill();
  const sample = results.flatMap((r) => r.sample).sort((a, b) => a - b);
  const pct = (p) => sample[Math.min(sample.length - 1, Math.floor(p * sample.length))];
  const deliveries = results.reduce((sum, r) => sum + r.received, 0);
  return {
    kind,
    deliveriesPerSecond: deliveries / elapsed,
    p50: pct(0.5),
    p99: pct(0.99),
    kibPerConnection: (connected.rss - base.rss) / 1024 / (perChild * CHILDREN),
    rssMiB: after.rss / 1048576,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const byKind = Object.fromEntries(KINDS.map((k) => [k, []]));
for (let r = 0; r < Number(values.rounds); r++) {
  for (const kind of KINDS) {
    const result = await round(kind);
    byKind[kind].push(result);
    console.error(
      `round ${r + 1} ${kind}: ${Math.round(result.deliveriesPerSecond)} deliveries/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms`,
    );
  }
}

const summary = Object.fromEntries(
  KINDS.map((k) => [
    k,
    Object.fromEntries(['deliveriesPerSecond', 'p50', 'p99', 'kibPerConnection', 'rssMiB'].map((f) => [f, median(byKind[k].map((x) => x[f]))])),
  ]),
);
const fmt = (n, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const load = RATE > 0 ? `${RATE} messages/s` : `as fast as a window of ${WINDOW} allows`;
console.log(`\n${SUBSCRIBERS} subscribers, ${MESSAGES} messages of ~100 B, ${load}, median of ${values.rounds} interleaved rounds\n`);
console.log('| server | deliveries/s | p50 latency | p99 latency | memory per connection | server RSS after |');
console.log('|---|---|---|---|---|---|');
for (const k of KINDS) {
  const s = summary[k];
  console.log(
    `| ${k} | ${fmt(s.deliveriesPerSecond)} | ${fmt(s.p50, 1)} ms | ${fmt(s.p99, 1)} ms | ${fmt(s.kibPerConnection, 1)} KiB | ${fmt(s.rssMiB)} MiB |`,
  );
}
if (summary.switchboard) {
  console.log('');
  for (const other of KINDS.filter((k) => k !== 'switchboard')) {
    const ratio = summary.switchboard.deliveriesPerSecond / summary[other].deliveriesPerSecond;
    console.log(`switchboard / ${other} throughput: ${ratio.toFixed(2)}x; p99 latency ${(summary.switchboard.p99 / summary[other].p99).toFixed(2)}x`);
  }
}
