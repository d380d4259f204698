// The 'latest' slow-consumer policy (docs/protocol.md, "Slow consumers"): a
// subscriber that stops reading on a fast channel is not closed; while its
// queue is over the threshold the server holds only the newest publication of
// the channel, and when it reads again it gets that one with its real offset,
// told how many it skipped. A subscriber that keeps up gets everything.
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Skipped } from '../../src/client/index.js';
import { connect } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionOf } from '../helpers/sessions.js';

const THRESHOLD = 64 * 1024;
const PAD = 'x'.repeat(8 * 1024);
/** Publications the fast subscriber may be behind: well under the threshold. */
const WINDOW = 3;
/** Published after the server started holding for the slow subscriber. */
const AFTER_HOLD = 50;

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({
    limits: { latestThresholdBytes: THRESHOLD, outboundBufferBytes: 1024 * 1024 },
    namespaces: { ticker: { slowConsumer: 'latest', history: { size: 10_000, ttl: 600_000 } }, '': {} },
  });
});
afterAll(() => srv.close());

it('keeps a paused subscriber, gives it the newest on resume with what it skipped, and leaves fast ones alone', async () => {
  const channel = 'ticker:prices';
  // The fast subscriber: a plain socket that reads everything, and says how far it got.
  const fast = new WebSocket(srv.wsUrl, 'switchboard.v1.json');
  const fastOffsets: number[] = [];
  let wake = () => {};
  fast.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'message') fastOffsets.push(frame.offset);
    wake();
  });
  const fastSubscribed = new Promise<void>((resolve) => fast.on('message', (data) => JSON.parse(data.toString()).type === 'reply' && resolve()));
  await new Promise((resolve) => fast.on('open', resolve));
  fast.send(JSON.stringify({ type: 'subscribe', id: 1, channel }));
  await fastSubscribed;

  // The slow subscriber: the SDK, whose socket stops reading.
  const slow = connect(srv.wsUrl);
  const delivered: number[] = [];
  let deliveredWake = () => {};
  const skipped: Skipped[] = [];
  const subscription = slow.subscribe(channel, (payload: any) => {
    delivered.push(payload.i);
    deliveredWake();
  });
  subscription.on('skipped', (event) => skipped.push(event));
  await subscription.ready;
  const session = sessionOf(srv.server, slow.session!.client);
  const tcp = (slow as any).socket._socket;
  tcp.pause();

  let published = 0;
  let heldAt: number | null = null;
  const fastProgress = () => fastOffsets.at(-1) ?? 0;
  while (heldAt === null || published < heldAt + AFTER_HOLD) {
    while (published - fastProgress() >= WINDOW) await new Promise<void>((resolve) => (wake = resolve));
    published = (await srv.server.publish(channel, { i: published + 1, pad: PAD }))!;
    if (heldAt === null && session.subscriptions.get(channel)?.held) heldAt = published;
    if (published > 5_000) throw new Error('the server never held a publication for the paused subscriber');
  }
  // Not cut off: the paused subscriber is still connected, its queue bounded.
  expect(session.closed).toBe(false);
  expect(session.bufferedAmount).toBeLessThan(THRESHOLD + 2 * (PAD.length + 512));
  expect(session.subscriptions.get(channel)!.held!.offset).toBe(published);

  tcp.resume();
  while (delivered.at(-1) !== published) await new Promise<void>((resolve) => (deliveredWake = resolve));
  // Every offset is either delivered or inside a skipped range, once, in order.
  const accounted: number[] = [];
  let skippedIndex = 0;
  let previous = 0;
  for (const offset of delivered) {
    if (offset > previous + 1) {
      const event = skipped[skippedIndex++]!;
      expect(event).toEqual({ count: offset - previous - 1, from: previous + 1, to: offset - 1 });
      for (let o = event.from!; o <= event.to!; o++) accounted.push(o);
    }
    accounted.push(offset);
    previous = offset;
  }
  expect(accounted).toEqual(Array.from({ length: published }, (_, i) => i + 1));
  expect(skipped.length).toBeGreaterThan(0);
  expect(skipped.reduce((sum, event) => sum + event.count, 0)).toBeGreaterThanOrEqual(AFTER_HOLD - 1);
  expect(subscription.position?.offset).toBe(published);

  // The fast subscriber got every publication, in order, nothing skipped.
  while (fastProgress() < published) await new Promise<void>((resolve) => (wake = resolve));
  expect(fastOffsets).toEqual(Array.from({ length: published }, (_, i) => i + 1));
  slow.close();
  fast.close();
}, 60_000);
