// What an idle connection costs the server with permessage-deflate on and off
// (issue 19, item 5). The server runs in a child process (this file with
// --serve, `node --expose-gc`); the parent opens --connections clients that
// offer permessage-deflate as browsers do, and every client exchanges one
// message each way above ws's 1 KiB threshold (a publish of --payload bytes
// to a channel nobody reads, then eleven publications of that size to a
// channel all of them subscribe to; the server's CPU time for the last ten is
// reported per message delivered), so that each connection has had a reason
// to create its zlib contexts. Then the connections sit idle and the
// server's memory after a forced GC, minus its memory before the first
// connection, is divided by the number of connections.
// Last, in this process, what no context takeover costs in bytes: similar
// JSON frames deflated with one zlib context kept across messages (ws's
// default, before) and reset after each (now; below 1 KiB, not compressed).
//
//   npm run build && node bench/compression-memory.mjs [--connections 2000] [--payload 2048] [--modes off,on]
import { fork } from 'node:child_process';
import zlib from 'node:zlib';
import WebSocket from 'ws';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.argv.includes('--serve')) await serve();
else await main();

async function serve() {
  const { pino } = await import('pino');
  const { createServer } = await import('../dist/server/index.js');
  const server = createServer({
    logger: pino({ level: 'silent' }),
    compression: process.argv.includes('--compression'),
    limits: { connectionsPerIp: 1_000_000, pendingConnectionsPerIp: 1_000_000, messagesPerSecond: 1_000_000, burst: 1_000_000 },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  process.on('message', async (message) => {
    if (message === 'cpu') process.send({ type: 'cpu', ...process.cpuUsage() });
    if (message !== 'memory') return;
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await sleep(50);
    }
    const { rss, heapUsed, external } = process.memoryUsage();
    process.send({ type: 'memory', rss, heapUsed, external });
  });
  process.send({ type: 'listening', port });
}

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
}

function ask(child, type) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message.type !== type) return;
      child.off('message', listener);
      resolve(message);
    };
    child.on('message', listener);
  });
}

/** A client that offers permessage-deflate (ws's default offer, the same as Chrome's) and answers each request id. */
function connect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: true });
    ws.once('upgrade', (res) => (ws.negotiated = res.headers['sec-websocket-extensions'] ?? '(none)'));
    const waiting = new Map();
    ws.received = 0;
    ws.request = (frame) =>
      new Promise((done) => {
        const id = (ws.lastId = (ws.lastId ?? 0) + 1);
        waiting.set(id, done);
        ws.send(JSON.stringify({ ...frame, id }));
      });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'welcome') resolve(ws);
      else if (frame.type === 'reply') waiting.get(frame.id)?.(frame);
      else if (frame.type === 'message') ws.received++;
    });
    ws.once('error', reject);
  });
}

async function measure(compression, connections, payloadBytes) {
  const args = ['--serve', ...(compression ? ['--compression'] : [])];
  const child = fork(new URL(import.meta.url).pathname, args, { execArgv: ['--expose-gc'] });
  try {
    const { port } = await ask(child, 'listening');
    const url = `ws://127.0.0.1:${port}/ws`;
    // Warm up what every connection shares (code, caches), then measure from there.
    const warm = await connect(url);
    await warm.request({ type: 'publish', channel: 'warm', payload: 'w'.repeat(payloadBytes) });
    warm.close();
    await sleep(200);
    child.send('memory');
    const before = await ask(child, 'memory');

    const clients = [];
    for (let i = 0; i < connections; i += 100) {
      const batch = [];
      for (let j = i; j < Math.min(connections, i + 100); j++) batch.push(connect(url));
      clients.push(...(await Promise.all(batch)));
    }
    await Promise.all(clients.map((ws) => ws.request({ type: 'subscribe', channel: 'all' })));
    const payload = 'x'.repeat(payloadBytes);
    // One message in: the server inflates it.
    await Promise.all(clients.map((ws) => ws.request({ type: 'publish', channel: 'sink', payload })));
    // Messages out: the server deflates each once per connection. The first
    // is not counted; the server's CPU time for the next ten is.
    let cpu;
    for (let n = 1; n <= 11; n++) {
      if (n === 2) {
        child.send('cpu');
        cpu = await ask(child, 'cpu');
      }
      await clients[0].request({ type: 'publish', channel: 'all', payload });
      while (clients.some((ws) => ws.received < n)) await sleep(1);
    }
    child.send('cpu');
    const cpuEnd = await ask(child, 'cpu');
    const cpuUs = (cpuEnd.user + cpuEnd.system - cpu.user - cpu.system) / (10 * connections);
    const negotiated = clients[0].negotiated;
    await sleep(1_000);
    child.send('memory');
    const after = await ask(child, 'memory');
    for (const ws of clients) ws.terminate();
    const per = (key) => Math.round((after[key] - before[key]) / connections);
    return { compression, negotiated, cpuUs, rss: per('rss'), heap: per('heapUsed'), external: per('external'), rssMb: after.rss / 2 ** 20 };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main() {
  const connections = Number(option('connections', '2000'));
  const payloadBytes = Number(option('payload', '2048'));
  const modes = option('modes', 'off,on').split(',');
  console.log(`${connections} connections, one ${payloadBytes}-byte message each way, then idle`);
  console.log('| compression | RSS bytes/conn | heap bytes/conn | external bytes/conn | server RSS MB | server CPU µs/message out |');
  console.log('|---|---:|---:|---:|---:|---:|');
  const negotiated = [];
  for (const mode of modes) {
    const r = await measure(mode === 'on', connections, payloadBytes);
    console.log(
      `| ${mode} | ${r.rss.toLocaleString('en')} | ${r.heap.toLocaleString('en')} | ${r.external.toLocaleString('en')} | ${r.rssMb.toFixed(0)} | ${r.cpuUs.toFixed(1)} |`,
    );
    if (r.compression) negotiated.push(r.negotiated);
  }
  for (const n of negotiated) console.log(`negotiated: ${n}`);
  await takeover();
}

/**
 * Deflate 2,000 frames like a chat channel's (same keys, text from a
 * vocabulary of 500 words) with a context kept and reset after each: at
 * about 2 KB, and at about 300 bytes, which ws now sends uncompressed (below
 * the threshold) and compressed before, with the context.
 */
async function takeover() {
  // As ws's PerMessageDeflate#_compress does it: write, flush with Z_SYNC_FLUSH, collect.
  const deflate = (d, f) =>
    new Promise((resolve) => {
      const chunks = [];
      const collect = (chunk) => chunks.push(chunk);
      d.on('data', collect);
      d.write(f);
      d.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        d.off('data', collect);
        resolve(Buffer.concat(chunks));
      });
    });
  console.log('\nchat-like JSON frames, 2,000 of each size, deflated (windowBits 15, memLevel 8): bytes out / in');
  console.log('| frame bytes | one context kept (ws default, before) | reset after each, none below 1 KiB (now) |');
  console.log('|---:|---:|---:|');
  for (const wordsPerFrame of [600, 40]) {
    let seed = 19;
    const random = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const words = Array.from({ length: 500 }, () => Array.from({ length: 2 + random(8) }, () => 'etaoinshrdlucmfwypvbgkjqxz'[random(26)]).join(''));
    const frames = Array.from({ length: 2_000 }, (_, i) => {
      const text = Array.from({ length: wordsPerFrame }, () => words[random(500)]).join(' ');
      return Buffer.from(
        JSON.stringify({
          type: 'message',
          channel: 'room:lobby',
          offset: i,
          epoch: 'k3x9',
          payload: { user: `user-${random(50)}`, at: 1764150000000 + i * 997, text },
        }),
      );
    });
    const raw = frames.reduce((sum, f) => sum + f.length, 0);
    const kept = new zlib.DeflateRaw();
    const resetting = new zlib.DeflateRaw();
    let [keptOut, resetOut] = [0, 0];
    for (const f of frames) {
      keptOut += (await deflate(kept, f)).length;
      resetOut += f.length < 1024 ? f.length : (await deflate(resetting, f)).length;
      resetting.reset();
    }
    console.log(`| ${Math.round(raw / frames.length)} | ${(keptOut / raw).toFixed(3)} | ${(resetOut / raw).toFixed(3)} |`);
  }
}
