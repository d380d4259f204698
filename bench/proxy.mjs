// Subscribe and publish rates through the backend proxy against a local Node
// backend, and through in-process hooks making the same decision, alternating
// in one run (docs/benchmarks.md, "Issue 23"). By hand, after `npm run build`:
//
//   node bench/proxy.mjs [--seconds 5] [--rounds 3] [--clients 32] [--window 6]
//
// clients x window stays under proxy.concurrency (256): past it requests are
// refused `unavailable` at once, by design, and the run stops on the first.
// Three processes: the backend (node:http, keep-alive, answers {"result":{}}),
// the server (dist/, one per mode) and this load generator.
import { fork } from 'node:child_process';
import http from 'node:http';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'driver' },
    mode: { type: 'string', default: 'proxy' },
    backend: { type: 'string', default: '' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '32' },
    window: { type: 'string', default: '6' },
  },
});

/** Children still running, killed however this process ends. */
const children = new Set();
process.on('exit', () => children.forEach((proc) => proc.kill('SIGKILL')));

if (values.role === 'backend') {
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': 13 }).end('{"result":{}}'));
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
} else if (values.role === 'server') {
  const { pino } = await import('pino');
  const { createServer } = await import('../dist/server/index.js');
  const proxy = values.mode === 'proxy';
  const url = (path) => ({ url: `${values.backend}/${path}` });
  const server = createServer({
    logger: pino({ level: 'warn' }),
    limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, bytesPerSecond: 1_000_000_000, connectionsPerIp: 100_000 },
    namespaces: { chat: { subscribe: proxy ? 'proxy' : 'anyone', publish: proxy ? 'proxy' : 'anyone' } },
    ...(proxy ? { proxy: { subscribe: url('subscribe'), publish: url('publish') } } : {}),
  });
  // The same decision in process: allow, keep the payload.
  if (!proxy) server.onSubscribe(async () => ({})).onPublish(async () => undefined);
  const { port } = await server.listen(0, '127.0.0.1');
  process.send({ port });
} else {
  await drive().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
  process.exit();
}

function child(args) {
  const proc = fork(new URL(import.meta.url).pathname, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const ready = new Promise((resolve, reject) => {
    proc.once('message', resolve);
    proc.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return { proc, ready };
}

async function connectAll(port, count) {
  return Promise.all(
    Array.from({ length: count }, () => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      return new Promise((resolve, reject) => {
        ws.once('message', () => resolve(ws)); // the welcome
        ws.once('error', reject);
      });
    }),
  );
}

/**
 * `window` chains per connection for `seconds`: each sends one operation and
 * the next when its reply arrives. Subscribe chains unsubscribe between two
 * subscribes (counted: subscribes); publish chains publish. Operations per second.
 */
async function measure(sockets, op, seconds, window) {
  let done = 0;
  let failed = 0;
  let running = true;
  await Promise.all(
    sockets.map((ws, c) => {
      let id = 0;
      const pending = new Map();
      const send = (frame) =>
        new Promise((resolve) => {
          const key = ++id;
          pending.set(key, resolve);
          ws.send(JSON.stringify({ ...frame, id: key }));
        });
      const onMessage = (data) => {
        const frame = JSON.parse(data);
        if (frame.type !== 'reply') return;
        if (!frame.ok) failed++;
        pending.get(frame.id)?.();
        pending.delete(frame.id);
      };
      ws.on('message', onMessage);
      const chain = async (w) => {
        const channel = `chat:c${c}-w${w}`;
        while (running) {
          if (op === 'subscribe') {
            await send({ type: 'subscribe', channel });
            done++;
            await send({ type: 'unsubscribe', channel });
          } else {
            await send({ type: 'publish', channel, payload: { text: 'hello', n: done } });
            done++;
          }
        }
      };
      setTimeout(() => (running = false), seconds * 1000);
      return Promise.all(Array.from({ length: window }, (_, w) => chain(w))).finally(() => ws.off('message', onMessage));
    }),
  );
  if (failed > 0) throw new Error(`${failed} ${op} requests failed`);
  return done / seconds;
}

async function drive() {
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const clients = Number(values.clients);
  const window = Number(values.window);
  const backend = child(['--role', 'backend']);
  const { port: backendPort } = await backend.ready;
  const results = { proxy: { subscribe: [], publish: [] }, hooks: { subscribe: [], publish: [] } };
  const load = [loadavg()[0]];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const mode of round % 2 === 0 ? ['proxy', 'hooks'] : ['hooks', 'proxy']) {
        const server = child(['--role', 'server', '--mode', mode, '--backend', `http://127.0.0.1:${backendPort}`]);
        const { port } = await server.ready;
        const sockets = await connectAll(port, clients);
        await measure(sockets, 'publish', 1, window); // warm-up
        for (const op of ['subscribe', 'publish']) {
          results[mode][op].push(await measure(sockets, op, seconds, window));
          console.error(`round ${round + 1} ${mode} ${op}: ${Math.round(results[mode][op].at(-1))}/s`);
        }
        for (const ws of sockets) ws.terminate();
        server.proc.kill();
        load.push(loadavg()[0]);
      }
    }
  } finally {
    backend.proc.kill();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  console.log(`clients ${clients}, ${window} requests in flight each, ${seconds} s per measurement, ${rounds} rounds alternating`);
  console.log(`load average (1 min) during the run: ${load.map((l) => l.toFixed(2)).join(' ')}`);
  console.log('| operation | in-process hooks (ops/s) | proxy (ops/s) | proxy / in-process |');
  console.log('|---|---|---|---|');
  for (const op of ['subscribe', 'publish']) {
    const hooks = median(results.hooks[op]);
    const proxy = median(results.proxy[op]);
    console.log(
      `| ${op} | ${fmt(hooks)} (${results.hooks[op].map(fmt).join(', ')}) | ${fmt(proxy)} (${results.proxy[op].map(fmt).join(', ')}) | ${(proxy / hooks).toFixed(2)} |`,
    );
  }
}
