// @ts-check
// Express with Switchboard on one http.Server, beside two more WebSocket
// endpoints of the app's: a plain `ws` echo on /echo and Socket.IO.
//
//   npm run build && node examples/express.mjs
//
// Switchboard's WebSockets are on /ws; its HTTP routes (health, metrics, the
// HTTP API, /client.js) are under /realtime; everything else is the app's,
// /api/users included.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Server as SocketIO } from 'socket.io';
import { createServer } from 'switchboard';
import { echoEndpoint } from './echo-endpoint.mjs';

const users = [
  { id: 1, name: 'Ada' },
  { id: 2, name: 'Grace' },
];

/** @param {{ port?: number, host?: string, logger?: import('switchboard').ServerOptions['logger'] }} [options] */
export async function start({ port = 3000, host = '127.0.0.1', logger } = {}) {
  const switchboard = createServer({ apiKey: process.env.SWITCHBOARD_API_KEY ?? 'dev-key', httpPrefix: '/realtime', logger });

  const app = express();
  // A body parser ahead of Switchboard is fine: it reads req.body when the stream is gone.
  app.use(express.json());
  // Switchboard's routes first; anything it does not own falls through to the app.
  app.use((req, res, next) => {
    switchboard.handleRequest(req, res).then((handled) => handled || next(), next);
  });
  app.get('/api/users', (_req, res) => res.json(users));
  app.post('/api/users', (req, res) => res.status(201).json({ id: users.length + 1, ...req.body }));

  // The app creates the server with Switchboard's bounds on slow and oversized requests.
  const server = http.createServer(switchboard.httpServerOptions(), app);
  await switchboard.attach(server);
  const echo = echoEndpoint(server, '/echo');
  // destroyUpgrade: false, or Socket.IO ends, after 1 s, any upgrade it does
  // not own that has not been answered yet (a handshake waiting on a JWKS fetch).
  const io = new SocketIO(server, { destroyUpgrade: false });
  io.on('connection', (socket) => socket.on('echo', (text, ack) => ack(`echo ${text}`)));

  await new Promise((resolve) => server.listen(port, host, () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://${host}:${address.port}`,
    prefix: '/realtime',
    apiKey: switchboard.config.apiKey,
    async close() {
      await switchboard.close();
      await echo.close();
      server.closeAllConnections();
      // Socket.IO closes the http.Server too.
      await new Promise((resolve) => io.close(() => resolve(undefined)));
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`app on ${url}: /api/users, Switchboard on ${url.replace('http', 'ws')}/ws and ${url}/realtime/healthz`);
}
