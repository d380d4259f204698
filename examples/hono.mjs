// @ts-check
// Hono on its Node server (@hono/node-server) with Switchboard on the same
// http.Server, beside two more WebSocket endpoints of the app's: a plain `ws`
// echo on /echo and Socket.IO.
//
//   npm run build && node examples/hono.mjs
//
// Switchboard's WebSockets are on /ws and its HTTP routes at the root
// (/healthz, /metrics, /api/publish...); every other path, /api/users
// included, is Hono's.
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import { Server as SocketIO } from 'socket.io';
import { createServer } from 'switchboard';
import { echoEndpoint } from './echo-endpoint.mjs';

const users = [
  { id: 1, name: 'Ada' },
  { id: 2, name: 'Grace' },
];

/** @param {{ port?: number, host?: string, logger?: import('switchboard').ServerOptions['logger'] }} [options] */
export async function start({ port = 3000, host = '127.0.0.1', logger } = {}) {
  const switchboard = createServer({ apiKey: process.env.SWITCHBOARD_API_KEY ?? 'dev-key', logger });

  /** @type {Hono<{ Bindings: import('@hono/node-server').HttpBindings }>} */
  const app = new Hono();
  // First middleware: the Node request and response are in c.env. A request
  // Switchboard answered tells Hono the response is already sent.
  app.use(async (c, next) => {
    if (await switchboard.handleRequest(c.env.incoming, c.env.outgoing)) return RESPONSE_ALREADY_SENT;
    await next();
  });
  app.get('/api/users', (c) => c.json(users));
  app.post('/api/users', async (c) => c.json({ id: users.length + 1, ...(await c.req.json()) }, 201));

  // The app creates the server with Switchboard's bounds on slow and oversized requests.
  const server = /** @type {import('node:http').Server} */ (serve({ fetch: app.fetch, port, hostname: host, serverOptions: switchboard.httpServerOptions() }));
  await switchboard.attach(server);
  const echo = echoEndpoint(server, '/echo');
  // destroyUpgrade: false, or Socket.IO ends, after 1 s, any upgrade it does
  // not own that has not been answered yet (a handshake waiting on a JWKS fetch).
  const io = new SocketIO(server, { destroyUpgrade: false });
  io.on('connection', (socket) => socket.on('echo', (text, ack) => ack(`echo ${text}`)));

  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://${host}:${address.port}`,
    prefix: '',
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
  console.log(`app on ${url}: /api/users, Switchboard on ${url.replace('http', 'ws')}/ws and ${url}/healthz`);
}
