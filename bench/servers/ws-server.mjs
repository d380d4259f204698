// Baseline: a plain `ws` broadcaster speaking the same JSON frames as
// Switchboard (subscribe, publish, message), with a channel -> sockets index
// and nothing else: no auth, validation, history or limits.
import { WebSocketServer } from 'ws';
import { reportReady } from './common.mjs';

const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
const channels = new Map();
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'subscribe') {
      let set = channels.get(frame.channel);
      if (!set) channels.set(frame.channel, (set = new Set()));
      set.add(ws);
      ws.on('close', () => set.delete(ws));
      ws.send(JSON.stringify({ type: 'reply', id: frame.id, ok: true, payload: {} }));
    } else if (frame.type === 'publish') {
      const message = Buffer.from(JSON.stringify({ type: 'message', channel: frame.channel, payload: frame.payload }));
      for (const peer of channels.get(frame.channel) ?? []) peer.send(message, { binary: false });
    }
  });
});
wss.on('listening', () => reportReady(wss.address().port, '/'));
