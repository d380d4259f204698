// Issue 19, item 3: in a slowConsumer "latest" namespace, the publications held
// for a client that stopped reading were outside every bound: one client on
// 600 such channels pinned ~600 MB while switchboard_outbound_bytes said 1.9 MB.
// Held publications now count against outboundBufferBytes and the node's
// limits.outboundBytes, with the 4008 close past them.
import { afterEach, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Duplex } from 'node:stream';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionsOf } from '../helpers/sessions.js';

const THRESHOLD = 64 * 1024;
// Held bytes must stay past the bounds after the kernel's socket buffers (a
// few MiB on loopback) have taken what they can: 63 x 512 KiB is about 32 MiB.
const PAD = 'x'.repeat(512 * 1024);
const CHANNELS = 64;

let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

/**
 * A raw client subscribed to CHANNELS 'latest' channels that stops reading,
 * then one channel published to until the server holds for it, then one large
 * publication on each other channel.
 */
async function fillHeld(s: TestServer) {
  const ws = new WebSocket(s.wsUrl, 'switchboard.v1.json');
  const replies = new Map<number, () => void>();
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'reply') replies.get(frame.id)?.();
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise((resolve) => ws.once('open', resolve));
  for (let i = 0; i < CHANNELS; i++) {
    const answered = new Promise<void>((resolve) => replies.set(i + 1, resolve));
    ws.send(JSON.stringify({ type: 'subscribe', id: i + 1, channel: `ticker:${i}` }));
    await answered;
  }
  const session = sessionsOf(s.server)[0]!;
  const tcp = (ws as unknown as { _socket: Duplex })._socket;
  tcp.pause();
  for (let n = 0; !session.subscriptions.get('ticker:0')?.held; n++) {
    if (n > 5_000) throw new Error('the server never held a publication for the paused client');
    await s.server.publish('ticker:0', { n, pad: PAD });
  }
  for (let i = 1; i < CHANNELS && !session.closed; i++) await s.server.publish(`ticker:${i}`, { pad: PAD });
  return { session, closed, resume: () => tcp.resume() };
}

it('closes a client with 4008 once its held publications take it past outboundBufferBytes', async () => {
  srv = await startServer({
    limits: { latestThresholdBytes: THRESHOLD, outboundBufferBytes: 8 * 1024 * 1024 },
    namespaces: { ticker: { slowConsumer: 'latest' }, '': {} },
  });
  const client = await fillHeld(srv);
  expect(client.session.closeCode).toBe(4008);
  expect(client.session.closeReason).toBe('outbound buffer over its limit');
  client.resume();
  expect(await client.closed).toBe(4008);
});

it('counts held publications in the node budget, which closes the client past limits.outboundBytes', async () => {
  // The connection's own bound is far away: only the node's budget can close it.
  srv = await startServer({
    limits: { latestThresholdBytes: THRESHOLD, outboundBufferBytes: 256 * 1024 * 1024, outboundBytes: 8 * 1024 * 1024 },
    namespaces: { ticker: { slowConsumer: 'latest' }, '': {} },
  });
  const client = await fillHeld(srv);
  await expect.poll(() => client.session.closeCode, { timeout: 5_000 }).toBe(4008);
  expect(client.session.closeReason).toBe('node outbound budget over its limit');
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  expect(metrics).toMatch(/switchboard_limit_hits_total\{limit="outboundBytes"\} [1-9]/);
  client.resume();
  expect(await client.closed).toBe(4008);
});
