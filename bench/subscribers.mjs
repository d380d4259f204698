// A child process holding `count` subscribers of one kind (ws, switchboard or
// socketio). Every kind uses the same raw `ws` client and reads only the
// head of each frame, so that the clients cost the same and the servers are
// what is measured. (Socket.IO is spoken as Engine.IO v4 packets: 40 to
// connect, 42[...] for events, 43 for acks, 2/3 for ping/pong.)
// Reports when all are subscribed, the sequence number that all of them have
// received (every 10), and at the end a sample of latencies.
import WebSocket from 'ws';

const [kind, url, countText, totalText] = process.argv.slice(2);
const count = Number(countText);
const total = Number(totalText);
const now = () => performance.timeOrigin + performance.now();
const reached = new Map();
const latencies = new Float64Array(count * total);
const SEQUENCE = /"n":(\d+),"t":([\d.]+)/;
let recorded = 0;
let subscribed = 0;

function delivered(text) {
  const match = SEQUENCE.exec(text);
  if (!match) return;
  const n = Number(match[1]);
  latencies[recorded++] = now() - Number(match[2]);
  const have = (reached.get(n) ?? 0) + 1;
  if (have < count) return reached.set(n, have);
  reached.delete(n);
  if (n % 10 === 0 || n === total) process.send({ type: 'progress', n });
  if (n === total) report();
}

function ready() {
  if (++subscribed === count) process.send({ type: 'ready' });
}

function report() {
  const all = latencies.subarray(0, recorded).sort();
  const step = Math.max(1, Math.floor(all.length / 20_000));
  const sample = [];
  for (let i = 0; i < all.length; i += step) sample.push(all[i]);
  process.send({ type: 'done', sample, received: recorded });
}

function socketIo(ws) {
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('42')) delivered(text);
    else if (text === '2') ws.send('3');
    else if (text.startsWith('0{')) ws.send('40');
    else if (text.startsWith('40')) ws.send('420["subscribe","bench"]');
    else if (text.startsWith('430')) ready();
  });
}

function switchboardJson(ws) {
  ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel: 'bench' })));
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"type":"message"')) delivered(text);
    else if (text.startsWith('{"type":"reply"')) ready();
  });
}

for (let i = 0; i < count; i++) {
  const target = kind === 'socketio' ? `${url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket` : url;
  const ws = new WebSocket(target, { perMessageDeflate: false });
  ws.on('error', (error) => process.send({ type: 'error', message: error.message }));
  if (kind === 'socketio') socketIo(ws);
  else switchboardJson(ws);
}
process.on('disconnect', () => process.exit(0));
