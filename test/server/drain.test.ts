// Graceful drain of an embedded server: readiness turns 503 first, every
// client gets 1001, and new connections are refused with 503.
import { expect, it } from 'vitest';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';

it('close() drains: 1001 to every client, then the port is released', async () => {
  const srv = await startServer();
  expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
  const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.connect(srv.wsUrl)));
  const closing = srv.close();
  const codes = await Promise.all(clients.map(async (c) => (await c.closed).code));
  expect(codes).toEqual(Array(10).fill(1001));
  await closing;
  await expect(fetch(`${srv.url}/healthz`)).rejects.toThrow();
});

it('reports 503 on /readyz and refuses upgrades with 503 while draining', async () => {
  const srv = await startServer();
  // A client that never answers the close handshake keeps the drain open.
  const stubborn = await RawClient.connect(srv.wsUrl);
  stubborn.ws.on('close', () => {});
  (stubborn.ws as any)._socket.pause();
  const closing = srv.close();
  const ready = await fetch(`${srv.url}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({ status: 'unavailable' });
  const refused = await upgradeRequest(srv.url);
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe('unavailable');
  (stubborn.ws as any)._socket.resume();
  await closing;
});
