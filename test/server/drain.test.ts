// Graceful drain of an embedded server: readiness turns 503 first, every
// client gets 1001, and new connections are refused with 503.
import { expect, it } from 'vitest';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { sessionsOf } from '../helpers/sessions.js';

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

it('answers the requests it had received before closing, and refuses new ones with unavailable', async () => {
  const srv = await startServer();
  let release = () => {};
  const started = new Promise<void>((resolve) => {
    srv.server.rpc('slow', () => {
      resolve();
      return new Promise((done) => (release = () => done('finished')));
    });
  });
  const client = await RawClient.connect(srv.wsUrl);
  client.send({ type: 'rpc', id: 'in-flight', method: 'slow', payload: null });
  await started;
  const closing = srv.close();
  // The drain has begun: a request that arrives now is refused, not dropped.
  const refused = await client.request({ type: 'publish', channel: 'late', payload: 1 });
  expect(refused.error).toEqual({ code: 'unavailable', message: 'server is shutting down; reconnect' });
  expect(client.frames.some((f) => f.id === 'in-flight')).toBe(false);
  release();
  const answer = await client.next((f) => f.id === 'in-flight');
  expect(answer).toMatchObject({ ok: true, payload: 'finished' });
  expect((await client.closed).code).toBe(1001);
  // Nothing was stored for the refused publish.
  expect(client.messages('late')).toEqual([]);
  await closing;
});

it('drains without blocking the event loop: slices of sessions, 503 and /metrics answered meanwhile', async () => {
  const srv = await startServer({ limits: { connectionsPerIp: 5_000, pendingConnectionsPerIp: 5_000 }, drainTimeout: 10_000 });
  const clients: RawClient[] = [];
  for (let i = 0; i < 30; i++) clients.push(...(await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(srv.wsUrl)))));
  // One request still running keeps the drain open while we look at it.
  let release = () => {};
  srv.server.rpc('hold', () => new Promise((done) => (release = () => done('ok'))));
  const holder = clients[0]!;
  const held = holder.request({ type: 'rpc', method: 'hold', payload: null });
  await expect.poll(() => sessionsOf(srv.server).some((s) => s.inflight > 0)).toBe(true);

  const sessions = sessionsOf(srv.server);
  const closedCount = () => sessions.filter((s) => s.closed).length;
  let mostPerTurn = 0;
  let sampling = true;
  let previous = 0;
  const sample = () => {
    const now = closedCount();
    mostPerTurn = Math.max(mostPerTurn, now - previous);
    previous = now;
    if (sampling) setImmediate(sample);
  };
  setImmediate(sample);
  const closing = srv.close();
  await expect.poll(closedCount).toBe(sessions.length - 1);
  // Still up and answering while the drain waits.
  const refused = await upgradeRequest(srv.url);
  expect(refused.status).toBe(503);
  expect((await fetch(`${srv.url}/metrics`)).status).toBe(200);
  release();
  expect((await held).payload).toBe('ok');
  await closing;
  sampling = false;
  expect(mostPerTurn).toBeGreaterThan(0);
  expect(mostPerTurn).toBeLessThanOrEqual(500);
  for (const c of clients) c.ws.terminate();
}, 60_000);
