// Admission under a burst (docs/protocol.md, "Deploys without storms"): a node
// over its handshake budget completes the upgrade and closes at once with 1013
// and a retry hint, before any auth work; the SDK waits the hint out without
// an error and connects once the node has room.
import net from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { connect, type StateChange, type SwitchboardClient } from '../../src/client/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const RETRY_HINT = /^\{"retryIn":(\d+)\}$/;

let srv: TestServer | null = null;
const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const c of open.splice(0)) c.close();
  await srv?.close();
  srv = null;
});

/** An authenticate hook that holds every handshake until released: they stay in flight. */
function gate(server: TestServer) {
  let release = () => {};
  const opened = new Promise<null>((resolve) => (release = () => resolve(null)));
  const state = { asked: 0, release };
  server.server.authenticate(() => {
    state.asked++;
    return opened;
  });
  return state;
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${srv!.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .join('\n');
}

it('turns an upgrade away with 1013 and a retry hint when admission.maxHandshakes are in flight, before any auth', async () => {
  srv = await startServer({ admission: { maxHandshakes: 2, retryIn: 400 } });
  const held = gate(srv);
  const waiting = [RawClient.connect(srv.wsUrl), RawClient.connect(srv.wsUrl)];
  await expect.poll(() => held.asked).toBe(2);
  expect(await metric('switchboard_handshakes_in_flight')).toBe('switchboard_handshakes_in_flight 2');

  const away = RawClient.open(srv.wsUrl);
  const closed = await away.closed;
  expect(closed.code).toBe(1013);
  // From half to one and a half of admission.retryIn.
  const retryIn = Number(RETRY_HINT.exec(closed.reason)?.[1]);
  expect(retryIn).toBeGreaterThanOrEqual(200);
  expect(retryIn).toBeLessThanOrEqual(600);
  expect(away.frames).toEqual([]);
  expect(held.asked).toBe(2);
  expect(await metric('switchboard_handshakes_turned_away_total')).toContain('switchboard_handshakes_turned_away_total{reason="in_flight"} 1');

  held.release();
  const clients = await Promise.all(waiting);
  open.push(...clients.map((c) => c.ws));
  // Room again: the next one is welcomed.
  open.push((await RawClient.connect(srv.wsUrl)).ws);
  expect(await metric('switchboard_handshakes_in_flight')).toBe('switchboard_handshakes_in_flight 0');
});

it('while the event loop lags past admission.maxLagMs turns a burst away with 1013, but for a small allowance, and admits all again once caught up', async () => {
  srv = await startServer({ admission: { maxLagMs: 50 }, limits: { pendingConnectionsPerIp: 1_000, connectionsPerIp: 1_000 } });
  const burst = Array.from({ length: 200 }, () => RawClient.open(srv!.wsUrl));
  // Stall this process (the server's) for 150 ms while the upgrades wait in their sockets.
  const until = performance.now() + 150;
  while (performance.now() < until);
  const closes = await Promise.all(
    burst.map((c) => Promise.race([c.closed, c.next((f) => f.type === 'welcome').then(() => ({ code: 0, reason: 'welcomed' }))])),
  );
  open.push(...burst.map((c) => c.ws));
  const away = closes.filter((c) => c.code === 1013);
  // Some go ahead even while lagging (at most 50 at once, 500 a second): a slow box must not shut every client out.
  expect(away.length).toBeGreaterThanOrEqual(20);
  expect(closes.length - away.length).toBeGreaterThanOrEqual(50);
  for (const { reason } of away) expect(reason).toMatch(RETRY_HINT);
  expect(await metric('switchboard_handshakes_turned_away_total')).toContain(`switchboard_handshakes_turned_away_total{reason="lag"} ${away.length}`);
  // Caught up: a later upgrade is welcomed (each try waits for its welcome or its close).
  await expect
    .poll(async () => {
      try {
        open.push((await RawClient.connect(srv!.wsUrl)).ws);
        return 'welcomed';
      } catch (error) {
        return String(error);
      }
    })
    .toBe('welcomed');
});

it('the SDK waits a 1013 out for its retryIn, with no error event and no change of transport, then connects', async () => {
  srv = await startServer({ admission: { maxHandshakes: 1, retryIn: 200 } });
  const held = gate(srv);
  const first = RawClient.connect(srv.wsUrl);
  await expect.poll(() => held.asked).toBe(1);

  const client: SwitchboardClient = connect(srv.wsUrl);
  open.push(client);
  const errors: unknown[] = [];
  client.on('error', (error) => errors.push(error));
  const states: string[] = [];
  client.on('state', (change) => states.push(change.state));
  const change = await new Promise<StateChange>((resolve) => client.on('disconnected', resolve));
  expect(change).toMatchObject({ code: 1013, willRetry: true });
  const retryIn = Number(RETRY_HINT.exec(change.reason!)?.[1]);
  expect(change.delay).toBeGreaterThanOrEqual(retryIn);

  held.release();
  open.push((await first).ws);
  await new Promise((resolve) => client.on('connected', resolve));
  expect(client.transport).toBe('websocket');
  expect(errors).toEqual([]);
  expect(states).not.toContain('closed');
});

/** A raw TCP client that sends a WebSocket upgrade and then never answers (no close frame back). */
function silentUpgrade(url: string): Promise<{ socket: net.Socket; first: string }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  open.push({ close: () => socket.destroy() });
  socket.write(
    'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  return new Promise((resolve) => {
    socket.once('data', (data) => resolve({ socket, first: data.toString('latin1') }));
    socket.once('close', () => resolve({ socket, first: '' }));
  });
}

it('a turned-away socket whose client never answers the close counts as pending for its address: limits.pendingConnectionsPerIp bounds them', async () => {
  srv = await startServer({ admission: { maxHandshakes: 1 }, limits: { pendingConnectionsPerIp: 3 } });
  const held = gate(srv);
  void RawClient.connect(srv.wsUrl).catch(() => {});
  await expect.poll(() => held.asked).toBe(1);
  // Two more: each gets the 101 and the 1013 close frame, and never answers it.
  const silent = [];
  for (let i = 0; i < 2; i++) {
    const answer = await silentUpgrade(srv.wsUrl);
    expect(answer.first).toMatch(/^HTTP\/1\.1 101 /);
    silent.push(answer.socket);
  }
  // A fourth connection from the address is dropped before it costs anything.
  expect((await silentUpgrade(srv.wsUrl)).first).toBe('');
  // Once they go, the address has room again (the metrics request is from it too).
  for (const socket of silent) socket.destroy();
  held.release();
  await expect
    .poll(async () => {
      try {
        return await metric('switchboard_limit_hits_total{limit="pendingConnectionsPerIp"}');
      } catch (error) {
        return String(error);
      }
    })
    .toBe('switchboard_limit_hits_total{limit="pendingConnectionsPerIp"} 1');
});
