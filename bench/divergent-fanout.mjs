// Fan-out where every subscriber's frames of a turn differ from the others'
// (docs/benchmarks.md, issue 11): each subscriber is on its own set of 8 of 64
// channels, and a publisher sends bursts of 32 publications to random channels,
// waiting for the 32 replies before the next burst. It reads the server's CPU
// time (utime + stime of SERVER_PID, Linux) around the publishing and prints it
// per 100,000 deliveries: a cost per delivery that does not depend on how fast
// this client reads. The server listens on PORT with its endpoint at /ws.
//   taskset -c 1 node bench/divergent-fanout.mjs PORT SERVER_PID [subscribers=1000] [bursts=400]
import fs from 'node:fs';
import WebSocket from 'ws';
const [port, pid, nSubs = '1000', nBursts = '400'] = process.argv.slice(2);
const url = `ws://127.0.0.1:${port}/ws`;
const CHANNELS = 64,
  PER = 8,
  BURST = 32;
// utime + stime in ms (fields 14 and 15 of /proc/PID/stat, in clock ticks of 10 ms)
const cpu = () => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (+f[11] + +f[12]) * 10;
};
let received = 0;
const open = (ws) =>
  new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
const subs = [];
for (let i = 0; i < +nSubs; i++) {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  subs.push(ws);
  ws.on('message', () => received++);
  await open(ws);
  // A pseudo-random set of PER channels per subscriber: almost every set is unique.
  const mine = new Set();
  let x = ((i + 1) * 2654435761) % 4294967296;
  while (mine.size < PER) {
    x = (x * 1103515245 + 12345) % 2147483648;
    mine.add(Math.floor(x / 65536) % CHANNELS);
  }
  for (const c of mine) ws.send(JSON.stringify({ type: 'subscribe', channel: `d${c}` }));
}
const pub = new WebSocket(url, { perMessageDeflate: false });
await open(pub);
await new Promise((r) => setTimeout(r, 1000));
let replies = 0,
  waiting = null;
pub.on('message', (d) => {
  if (String(d).includes('"type":"reply"')) {
    replies++;
    if (waiting && replies >= waiting.n) {
      const w = waiting;
      waiting = null;
      w.r();
    }
  }
});
let id = 0;
const before = cpu(),
  t0 = Date.now(),
  r0 = received;
for (let b = 0; b < +nBursts; b++) {
  const done = new Promise((r) => (waiting = { n: replies + BURST, r }));
  for (let k = 0; k < BURST; k++)
    pub.send(JSON.stringify({ type: 'publish', channel: `d${Math.floor(Math.random() * CHANNELS)}`, payload: { pad: 'x'.repeat(80) }, id: ++id }));
  await done;
}
// let the deliveries arrive
let last = -1;
while (received !== last) {
  last = received;
  await new Promise((r) => setTimeout(r, 300));
}
const used = cpu() - before,
  secs = (Date.now() - t0) / 1000,
  n = received - r0;
console.log(JSON.stringify({ deliveries: n, server_cpu_ms: used, cpu_ms_per_100k: +((used / n) * 1e5).toFixed(1), secs: +secs.toFixed(2) }));
process.exit(0);
