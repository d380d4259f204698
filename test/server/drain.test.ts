// Graceful drain of an embedded server (docs/protocol.md, "Deploys without
// storms"): readiness turns 503 first, every client gets 1012 with a retry
// hint, paced over drainWindow, and a new WebSocket is closed at once with 1012
// and a hint to come back after the drain.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import type { ServerOptions } from '../../src/server/index.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer } from '../helpers/server.js';
import { sessionsOf } from '../helpers/sessions.js';

const RETRY_HINT = /^\{"retryIn":(\d+)\}$/;

it('close() drains: 1012 with a retry hint to every client, then the port is released', async () => {
  const srv = await startServer();
  expect((await fetch(`${srv.url}/readyz`)).status).toBe(200);
  const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.connect(srv.wsUrl)));
  const closing = srv.close();
  const closes = await Promise.all(clients.map((c) => c.closed));
  expect(closes.map((c) => c.code)).toEqual(Array(10).fill(1012));
  // Alone (the memory broker): told to come back after the drain (10 ms for 10 clients) and a second for the restart, spread over a second.
  for (const { reason } of closes) expect(Number(RETRY_HINT.exec(reason)?.[1])).toBeLessThanOrEqual(2_010);
  await closing;
  await expect(fetch(`${srv.url}/healthz`)).rejects.toThrow();
});

it('reports 503 on /readyz, turns new WebSockets away with 1012 and a hint past the drain, and new HTTP streams with 503', async () => {
  const srv = await startServer();
  // A client that never answers the close handshake keeps the drain open.
  const stubborn = await RawClient.connect(srv.wsUrl);
  stubborn.ws.on('close', () => {});
  (stubborn.ws as any)._socket.pause();
  const closing = srv.close();
  const ready = await fetch(`${srv.url}/readyz`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toEqual({ status: 'unavailable' });
  const away = RawClient.open(srv.wsUrl);
  const turned = await away.closed;
  expect(turned.code).toBe(1012);
  expect(Number(RETRY_HINT.exec(turned.reason)?.[1])).toBeGreaterThanOrEqual(0);
  expect(away.frames).toEqual([]);
  const stream = await fetch(`${srv.url}/sse?channel=a`);
  expect(stream.status).toBe(503);
  expect(((await stream.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  const refusals = await (await fetch(`${srv.url}/metrics`)).text();
  expect(refusals).toMatch(/switchboard_handshake_refusals_total\{status="101",code="1012"\} 1/);
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
  expect((await client.closed).code).toBe(1012);
  // Nothing was stored for the refused publish.
  expect(client.messages('late')).toEqual([]);
  await closing;
});

it('paces the closes over the window (at least 1,000 a second) in batches, answering upgrades and /metrics meanwhile', async () => {
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
  const started = performance.now();
  const closing = srv.close();
  await expect.poll(closedCount, { timeout: 10_000 }).toBe(sessions.length - 1);
  // 1,500 sessions at 1,000 a second: 30 batches of 50, one every 50 ms (timers never fire early).
  expect(performance.now() - started).toBeGreaterThanOrEqual(29 * 50);
  // Still up and answering while the drain waits.
  expect((await RawClient.open(srv.wsUrl).closed).code).toBe(1012);
  expect((await fetch(`${srv.url}/metrics`)).status).toBe(200);
  expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
  release();
  expect((await held).payload).toBe('ok');
  await closing;
  sampling = false;
  expect(mostPerTurn).toBeGreaterThan(0);
  expect(mostPerTurn).toBeLessThanOrEqual(50);
  for (const c of clients) c.ws.terminate();
}, 60_000);

describe('publishes during a paced drain', () => {
  /** 1,000 clients: a one-second drain in 20 batches, so the last client is still open well after close(). */
  async function drainingWithLastClient(options: ServerOptions) {
    const srv = await startServer({ limits: { connectionsPerIp: 2_000, pendingConnectionsPerIp: 2_000 }, ...options });
    const clients: RawClient[] = [];
    for (let i = 0; i < 20; i++) clients.push(...(await Promise.all(Array.from({ length: 50 }, () => RawClient.connect(srv.wsUrl)))));
    const last = clients.at(-1)!;
    const closing = srv.close();
    return { last, closing, clients };
  }

  it('the memory broker: refused unavailable from the start (the history dies with the process), before the connection’s turn', async () => {
    const { last, closing, clients } = await drainingWithLastClient({});
    const answer = await last.request({ type: 'publish', channel: 'late', payload: 1 });
    expect(answer.error).toEqual({ code: 'unavailable', message: 'server is restarting and its history goes with it; publish again after reconnecting' });
    // Other requests still work until the connection's turn.
    expect((await last.request({ type: 'history', channel: 'late' })).ok).toBe(true);
    expect((await last.closed).code).toBe(1012);
    await closing;
    for (const c of clients) c.ws.terminate();
  }, 30_000);

  it('Redis: taken until the connection’s turn, as it outlives the node', async () => {
    if (!(await requireService('Redis', REDIS_URL))) return;
    const { last, closing, clients } = await drainingWithLastClient({
      broker: new RedisBroker({ url: REDIS_URL, prefix: `drain-${randomUUID()}:` }),
    });
    const answer = await last.request({ type: 'publish', channel: 'late', payload: 1 });
    expect(answer).toMatchObject({ ok: true, payload: { offset: 1 } });
    expect((await last.closed).code).toBe(1012);
    await closing;
    for (const c of clients) c.ws.terminate();
  }, 30_000);
});

describe('the hint a drained client gets depends on whether other nodes are alive', () => {
  const hintOf = async (client: RawClient) => Number(RETRY_HINT.exec((await client.closed).reason)?.[1]);

  it('with another node on the same Redis: back within a second (to that node)', async () => {
    if (!(await requireService('Redis', REDIS_URL))) return;
    const prefix = `drain-peers-${randomUUID()}:`;
    const draining = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    const peer = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    const client = await RawClient.connect(draining.wsUrl);
    await draining.close();
    expect(await hintOf(client)).toBeLessThan(1_000);
    await peer.close();
  });

  it('alone on its Redis: after the drain and a second for the restart', async () => {
    if (!(await requireService('Redis', REDIS_URL))) return;
    const alone = await startServer({ broker: new RedisBroker({ url: REDIS_URL, prefix: `drain-alone-${randomUUID()}:` }) });
    const client = await RawClient.connect(alone.wsUrl);
    await alone.close();
    expect(await hintOf(client)).toBeGreaterThanOrEqual(1_000);
  });
});
