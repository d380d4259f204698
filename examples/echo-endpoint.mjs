// @ts-check
// A second WebSocket endpoint of the app's own, on the same http.Server as
// Switchboard: a plain `ws` echo server. It uses ws's noServer mode and its
// own 'upgrade' listener that takes only its path: ws's `{ server, path }`
// mode would answer 400 to every other path, Switchboard's included.
import { WebSocketServer } from 'ws';

/** @param {import('node:http').Server} server @param {string} path */
export function echoEndpoint(server, path) {
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data}`)));
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== path) return; // someone else's
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  return { close: () => new Promise((resolve) => wss.close(() => resolve(undefined))) };
}
