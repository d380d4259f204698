// Transports benchmark: fan-out and echo over WebSocket, SSE and HTTP
// streaming against one `switchboard serve` on this machine, in one run, with
// rounds interleaved so that drift in the machine's speed hits all three.
//
//   npm run build && node bench/transports.mjs [--port 18510] [--subscribers 200]
//        [--messages 500] [--window 20] [--echo-connections 20] [--echoes 200] [--rounds 3]
//
// Fan-out: one WebSocket publisher, N subscribers of one channel over the
// transport, the publisher at most `window` publications ahead of the slowest
// subscriber (sustained throughput, not buffering); deliveries per second and
// the publish-to-delivery latency. Echo: connections each sending ping and
// waiting for the pong, in turn; round trips per second and their latency. SSE
// carries nothing up, so it has no echo. The load average is printed before
// and after: the machine is shared.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '18510' },
    subscribers: { type: 'string', default: '200' },
    messages: { type: 'string', default: '500' },
    window: { type: 'string', default: '20' },
    'echo-connections': { type: 'string', default: '20' },
    echoes: { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' },
  },
});
const PORT = Number(values.port);
const SUBSCRIBERS = Number(values.subscribers);
const MESSAGES = Number(values.messages);
const WINDOW = Number(values.window);
const ECHO_CONNECTIONS = Number(values['echo-connections']);
const ECHOES = Number(values.echoes);
const ROUNDS = Number(values.rounds);
const BASE = `http://127.0.0.1:${PORT}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const now = () => performance.now();
const PAD = 'x'.repeat(64);

function startServer() {
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-transports-'));
  const config = join(dir, 'config.json');
  const big = 1_000_000;
  writeFileSync(
    config,
    JSON.stringify({
      limits: { messagesPerSecond: big, burst: big, connectionsPerIp: big, pendingConnectionsPerIp: big, bytesPerSecond: 1e9, bytesBurst: 1e9 },
      namespaces: { '': { history: { size: 1_000, ttl: 300_000 } } },
    }),
  );
  const child = spawn(process.execPath, [join(import.meta.dirname, '../dist/cli/main.js'), 'serve', '--port', String(PORT), '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      if (out.includes('listening on')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

/** A connection over one transport: `send(frame)`, and `onFrame` for every frame received. */
async function open(transport, onFrame) {
  if (transport === 'websocket') {
    const ws = new WebSocket(`ws://127.0.0.1:${PORT}/ws`, { perMessageDeflate: false });
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    ws.on('message', (data) => onFrame(JSON.parse(data.toString())));
    return { send: (frame) => ws.send(JSON.stringify(frame)), close: () => ws.terminate() };
  }
  if (transport === 'http-stream') {
    let secret = null;
    let ready;
    const opened = new Promise((resolve) => (ready = resolve));
    const req = http.get(`${BASE}/stream`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
        let newline;
        while ((newline = text.indexOf('\n')) !== -1) {
          const line = text.slice(0, newline);
          text = text.slice(newline + 1);
          if (line === '') continue;
          const frame = JSON.parse(line);
          if (frame.type === 'session') {
            secret = frame.session;
            ready();
          } else onFrame(frame);
        }
      });
    });
    await opened;
    const send = (frame) => {
      const post = http.request(`${BASE}/stream`, { method: 'POST', agent, headers: { 'X-Switchboard-Session': secret } }, (res) => res.resume());
      post.end(JSON.stringify(frame));
    };
    return { send, close: () => req.destroy() };
  }
  throw new Error(transport);
}

/** An SSE subscriber of `channel`: resolves once the stream has started. */
function sse(channel, onFrame) {
  return new Promise((resolve) => {
    const req = http.get(`${BASE}/sse?channel=${channel}`, { agent: false }, (res) => {
      const parser = createParser({ onEvent: (event) => event.event === 'message' && onFrame(JSON.parse(event.data)) });
      res.setEncoding('utf8');
      res.on('data', (chunk) => parser.feed(chunk));
      resolve({ close: () => req.destroy() });
    });
  });
}

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function fanout(transport, round) {
  const channel = `fan-${transport}-${round}`;
  const received = new Array(SUBSCRIBERS).fill(0);
  const latencies = [];
  let wake = () => {};
  const subscribers = [];
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const onFrame = (frame) => {
      if (frame.type !== 'message') return;
      received[i]++;
      latencies.push(now() - frame.payload.t);
      wake();
    };
    if (transport === 'sse') {
      subscribers.push(await sse(channel, onFrame));
    } else {
      let subscribed;
      const done = new Promise((resolve) => (subscribed = resolve));
      const connection = await open(transport, (frame) => (frame.type === 'reply' && frame.id === 's' ? subscribed() : onFrame(frame)));
      connection.send({ type: 'subscribe', id: 's', channel });
      await done;
      subscribers.push(connection);
    }
  }
  const publisher = await open('websocket', () => {});
  const slowest = () => Math.min(...received);
  const start = now();
  for (let sent = 0; sent < MESSAGES; sent++) {
    while (sent - slowest() >= WINDOW) await new Promise((resolve) => (wake = resolve));
    publisher.send({ type: 'publish', channel, payload: { t: now(), pad: PAD } });
  }
  while (slowest() < MESSAGES) await new Promise((resolve) => (wake = resolve));
  const seconds = (now() - start) / 1000;
  for (const s of subscribers) s.close();
  publisher.close();
  latencies.sort((a, b) => a - b);
  return { deliveriesPerSecond: (MESSAGES * SUBSCRIBERS) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function echo(transport) {
  const rtts = [];
  const start = now();
  await Promise.all(
    Array.from({ length: ECHO_CONNECTIONS }, async () => {
      let answer = () => {};
      const connection = await open(transport, (frame) => frame.type === 'pong' && answer());
      for (let i = 0; i < ECHOES; i++) {
        const sent = now();
        await new Promise((resolve) => {
          answer = resolve;
          connection.send({ type: 'ping', id: i });
        });
        rtts.push(now() - sent);
      }
      connection.close();
    }),
  );
  const seconds = (now() - start) / 1000;
  rtts.sort((a, b) => a - b);
  return { echoesPerSecond: (ECHO_CONNECTIONS * ECHOES) / seconds, p50: percentile(rtts, 50), p99: percentile(rtts, 99) };
}

const server = await startServer();
const before = loadavg();
const transports = ['websocket', 'sse', 'http-stream'];
const results = Object.fromEntries(transports.map((t) => [t, { fanout: [], echo: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const transport of transports) {
    results[transport].fanout.push(await fanout(transport, round));
    if (transport !== 'sse') results[transport].echo.push(await echo(transport));
  }
}
const after = loadavg();
server.kill('SIGTERM');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const summary = {};
for (const t of transports) {
  const { fanout: f, echo: e } = results[t];
  summary[t] = {
    fanout: { deliveriesPerSecond: median(f.map((r) => r.deliveriesPerSecond)), p50: median(f.map((r) => r.p50)), p99: median(f.map((r) => r.p99)) },
    echo: e.length ? { echoesPerSecond: median(e.map((r) => r.echoesPerSecond)), p50: median(e.map((r) => r.p50)), p99: median(e.map((r) => r.p99)) } : null,
  };
}
const ws = summary.websocket;
console.log(`load average before ${before.map((x) => x.toFixed(2)).join(' ')}, after ${after.map((x) => x.toFixed(2)).join(' ')}`);
console.log(
  `fan-out: ${SUBSCRIBERS} subscribers, ${MESSAGES} publications, window ${WINDOW}; echo: ${ECHO_CONNECTIONS} connections x ${ECHOES}; medians of ${ROUNDS} rounds`,
);
console.log('transport    | fan-out deliveries/s (x ws) | p50 ms | p99 ms | echo round trips/s (x ws) | p50 ms | p99 ms');
for (const t of transports) {
  const { fanout: f, echo: e } = summary[t];
  const ratio = (a, b) => (a / b).toFixed(2);
  const echoText = e
    ? `${e.echoesPerSecond.toFixed(0)} (${ratio(e.echoesPerSecond, ws.echo.echoesPerSecond)}) | ${e.p50.toFixed(2)} | ${e.p99.toFixed(2)}`
    : 'n/a (nothing goes up)';
  console.log(
    `${t.padEnd(12)} | ${f.deliveriesPerSecond.toFixed(0)} (${ratio(f.deliveriesPerSecond, ws.fanout.deliveriesPerSecond)}) | ${f.p50.toFixed(2)} | ${f.p99.toFixed(2)} | ${echoText}`,
  );
}
process.exit(0);
