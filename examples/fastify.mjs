// @ts-check
// Fastify with Switchboard on one http.Server, beside two more WebSocket
// endpoints of the app's: a plain `ws` echo on /echo and Socket.IO.
//
//   npm run build && node examples/fastify.mjs
//
// Switchboard's WebSockets are on /ws and its HTTP routes at the root
// (/healthz, /metrics, /api/publish...); every other path, /api/users
// included, is Fastify's.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
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

  // The app creates the server with Switchboard's bounds on slow and oversized requests.
  const fastify = Fastify({ serverFactory: (handler) => http.createServer(switchboard.httpServerOptions(), handler) });
  // onRequest runs before Fastify reads the body, for every path (unknown ones
  // too); a request Switchboard answered is hijacked so Fastify sends nothing.
  fastify.addHook('onRequest', async (request, reply) => {
    if (await switchboard.handleRequest(request.raw, reply.raw)) reply.hijack();
  });
  fastify.get('/api/users', async () => users);
  fastify.post('/api/users', async (request, reply) => reply.code(201).send({ id: users.length + 1, .../** @type {object} */ (request.body) }));
  await fastify.ready();

  await switchboard.attach(fastify.server);
  const echo = echoEndpoint(fastify.server, '/echo');
  // destroyUpgrade: false, or Socket.IO ends, after 1 s, any upgrade it does
  // not own that has not been answered yet (a handshake waiting on a JWKS fetch).
  const io = new SocketIO(fastify.server, { destroyUpgrade: false });
  io.on('connection', (socket) => socket.on('echo', (text, ack) => ack(`echo ${text}`)));

  const url = await fastify.listen({ port, host });
  return {
    url,
    prefix: '',
    apiKey: switchboard.config.apiKey,
    async close() {
      await switchboard.close();
      await echo.close();
      io.disconnectSockets(true);
      await fastify.close();
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url } = await start({ port: Number(process.env.PORT ?? 3000) });
  console.log(`app on ${url}: /api/users, Switchboard on ${url.replace('http', 'ws')}/ws and ${url}/healthz`);
}
