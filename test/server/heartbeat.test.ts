// Server heartbeats (PROTOCOL.md section 6): pings every interval, and a peer
// silent for interval + timeout is terminated, leaving its subscriptions.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ heartbeat: { interval: 100, timeout: 100 } });
});
afterAll(() => srv.close());

it('pings every interval, and a client that answers stays connected', async () => {
  const client = await RawClient.connect(srv.wsUrl);
  let pings = 0;
  await new Promise<void>((resolve) => {
    client.ws.on('ping', () => {
      if (++pings === 5) resolve();
    });
  });
  // Five pings span well over interval + timeout: answering pongs kept it alive.
  expect(await client.alive()).toBe(true);
  await client.close();
});

it('terminates a client that stops answering, and it leaves its channels', async () => {
  const silent = await RawClient.connect(srv.wsUrl, { autoPong: false });
  await silent.ok({ type: 'subscribe', channel: 'hb' });
  const reported = new Promise<[number, string]>((resolve) => srv.server.onDisconnect((_info, code, reason) => resolve([code, reason])));
  const closed = await silent.closed;
  // Logs and hooks say why the server dropped it.
  expect(await reported).toEqual([1006, 'heartbeat timeout']);
  // Terminated without a close frame: the client sees an abnormal closure.
  expect(closed.code).toBe(1006);
  await expect.poll(() => srv.server.operations.stats().connections).toBe(0);
  expect(srv.server.operations.stats().channels).toBe(0);
});

it('counts an application ping as a sign of life', async () => {
  // No pongs, but an app-level ping more often than the timeout keeps it open.
  const client = await RawClient.connect(srv.wsUrl, { autoPong: false });
  let pings = 0;
  await new Promise<void>((resolve) => {
    client.ws.on('ping', () => {
      client.send({ type: 'ping' });
      if (++pings === 5) resolve();
    });
  });
  expect(await client.alive()).toBe(true);
  await client.close();
});
