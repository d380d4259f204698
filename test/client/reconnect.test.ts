// The client over a network that breaks: cut mid-stream several times, and
// gone silent without TCP noticing. The application must see every
// publication exactly once, in order.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { recorder } from '../helpers/recorder.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
let proxy: TcpProxy;

beforeAll(async () => {
  srv = await startServer({
    heartbeat: { interval: 200, timeout: 200 },
    namespaces: { '': { history: { size: 5_000, ttl: 60_000 } } },
  });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await proxy.close();
  await srv.close();
});

/**
 * Publish payloads first..last, never more than `window` ahead of what the
 * app has seen, so publishing goes on while the client reconnects.
 */
async function stream(channel: string, first: number, last: number, seen: () => number, window = 100): Promise<void> {
  for (let i = first; i <= last; i++) {
    await srv.server.publish(channel, i);
    if (i - seen() >= window) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

it('recovers every publication exactly once across TCP cuts mid-stream', async () => {
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 20, maxDelay: 100 } });
  const states: string[] = [];
  client.on('state', (change) => states.push(change.state));
  const app = recorder();
  // Cut the TCP connection when the app reaches these counts, mid-stream.
  const cuts = new Set([300, 900, 1500, 2100]);
  const subscription = client.subscribe('stream', (payload) => {
    app.handler(payload);
    if (cuts.has(app.seen.length)) proxy.cut();
  });
  const resets: unknown[] = [];
  subscription.on('reset', (r) => resets.push(r));
  await subscription.ready;

  await stream('stream', 1, 3_000, () => app.seen.length);
  await app.until(3_000);

  expect(app.seen).toEqual(range(3_000));
  expect(resets).toEqual([]);
  expect(states.filter((s) => s === 'disconnected')).toHaveLength(4);
  // One socket at a time: once the server has noticed the cut ones, one session is left.
  await expect.poll(() => srv.server.operations.stats().connections).toBe(1);
  client.close();
});

it('notices a connection gone silent through its heartbeat, and recovers', async () => {
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 20, maxDelay: 100 } });
  const app = recorder();
  const subscription = client.subscribe('quiet', app.handler);
  await subscription.ready;
  const disconnected = new Promise<{ reason?: string }>((resolve) => client.on('disconnected', resolve));

  await stream('quiet', 1, 100, () => app.seen.length);
  await app.until(100);
  proxy.silence();
  await stream('quiet', 101, 200, () => 200);
  // Nothing reaches the client now; its heartbeat must find out by itself.
  expect((await disconnected).reason).toBe('heartbeat timeout');
  await app.until(200);
  expect(app.seen).toEqual(range(200));
  // The silenced socket is the server heartbeat's to drop; the client holds only the new one.
  await expect.poll(() => srv.server.operations.stats().connections).toBe(1);
  client.close();
});
