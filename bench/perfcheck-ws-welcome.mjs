// A floor for connect 10,000 in ../shared/perfcheck (docs/benchmarks.md,
// issue 11): perfcheck's ws-naive peer plus what Switchboard's protocol sends
// on every connect, a welcome frame of the same size (297 B), in the same TCP
// segment as the 101 response (the socket is corked across ws's upgrade and
// uncorked in setImmediate, as Switchboard does). It speaks ws-naive's frames,
// reads HOST and PORT, and prints "listening on http://HOST:PORT":
//   ./run.sh -s idle -n 10000 'ws-welcome=json:node <checkout>/bench/perfcheck-ws-welcome.mjs' ...
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { WebSocketServer } from 'ws';

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT ?? 8080);
const server = http.createServer((req, res) => {
  res.writeHead(426);
  res.end();
});
const wss = new WebSocketServer({ noServer: true, clientTracking: false });
const channels = new Map();
const corked = [];
let scheduled = false;
function flush() {
  scheduled = false;
  for (const s of corked) s.uncork();
  corked.length = 0;
}
const node = randomUUID();
const tail = JSON.stringify({
  server: node,
  heartbeat: { interval: 25000, timeout: 10000 },
  limits: { maxPayload: 1048576, rate: { messagesPerSecond: 1000000, burst: 1000000 }, idempotencyWindow: 300000 },
}).slice(1);

server.on('upgrade', (req, socket, head) => {
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.send(`{"type":"welcome","payload":{"client":${JSON.stringify(randomUUID())},"user":null,${tail}}`);
    const mine = new Set();
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return;
      }
      if (m === null || typeof m !== 'object') return;
      if (m.type === 'subscribe' && typeof m.channel === 'string') {
        let subs = channels.get(m.channel);
        if (!subs) channels.set(m.channel, (subs = new Set()));
        subs.add(ws);
        mine.add(m.channel);
      } else if (m.type === 'publish') {
        const subs = channels.get(m.channel);
        if (subs) {
          const str = JSON.stringify({ type: 'message', channel: m.channel, payload: m.payload });
          for (const s of subs) s.send(str);
        }
        ws.send(JSON.stringify({ type: 'reply', id: m.id, ok: true }));
      } else if (m.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong', id: m.id }));
      }
    });
    ws.on('close', () => {
      for (const c of mine) channels.get(c)?.delete(ws);
    });
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
setTimeout(() => process.exit(0), 1000 * Number(process.env.PEER_LIFETIME_S || 900)).unref();
server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});
