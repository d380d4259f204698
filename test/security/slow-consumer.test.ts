// One subscriber stops reading while 1,000 others keep up on the same busy
// channel: it is closed with 4008, the server stops queueing for it, and the
// others receive every publication, in order.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionOf } from '../helpers/sessions.js';

const LIMIT = 512 * 1024;
const FRAME = 64 * 1024;
/** Publications in flight to the good subscribers: well under LIMIT. */
const WINDOW = 4;
const CHILDREN = 4;
const PER_CHILD = 250;
const AFTER_CLOSE = 20;

let srv: TestServer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  srv = await startServer({
    limits: { outboundBufferBytes: LIMIT, connectionsPerIp: 5_000, pendingConnectionsPerIp: 5_000 },
    namespaces: { '': { history: { size: 10, ttl: 60_000 } } },
  });
});
afterAll(async () => {
  for (const child of children) child.kill();
  await srv.close();
});

it('closes the subscriber that stopped reading with 4008, and nobody else misses anything', async () => {
  const channel = 'busy';
  // Progress of the slowest good subscriber in each child; errors fail the test.
  const progress = new Array<number>(CHILDREN).fill(0);
  let childError: string | null = null;
  let wake: () => void = () => {};
  const ready = await Promise.all(
    Array.from({ length: CHILDREN }, (_, index) => {
      const child = fork(join(import.meta.dirname, '../fixtures/subscriber-swarm.mjs'), [srv.wsUrl, channel, String(PER_CHILD)]);
      children.push(child);
      return new Promise<void>((resolve) => {
        child.on('message', (message: any) => {
          if (message.type === 'ready') resolve();
          if (message.type === 'progress') progress[index] = message.offset;
          if (message.type === 'error') childError ??= message.message;
          wake();
        });
      });
    }),
  );
  expect(ready).toHaveLength(CHILDREN);

  const slow = await RawClient.connect(srv.wsUrl);
  await slow.ok({ type: 'subscribe', channel });
  const slowId = slow.welcome.payload.client;
  const slowClosed = new Promise<[number, string]>((resolve) =>
    srv.server.onDisconnect((info, code, reason) => info.client === slowId && resolve([code, reason])),
  );
  // From here on the slow client reads nothing: its socket is paused.
  (slow.ws as any)._socket.pause();
  const slowSession = sessionOf(srv.server, slowId);

  const payload = 'p'.repeat(FRAME);
  const slowest = () => Math.min(...progress);
  let published = 0;
  let publishedAtClose: number | null = null;
  while (publishedAtClose === null || published < publishedAtClose + AFTER_CLOSE) {
    while (published - slowest() >= WINDOW && !childError) await new Promise<void>((resolve) => (wake = resolve));
    if (childError) throw new Error(childError);
    published = (await srv.server.publish(channel, payload))!;
    if (publishedAtClose === null && slowSession.closed) publishedAtClose = published;
    if (published > 500) throw new Error('the slow consumer was never closed');
  }
  while (slowest() < published && !childError) await new Promise<void>((resolve) => (wake = resolve));
  expect(childError).toBeNull();
  expect(progress).toEqual(new Array(CHILDREN).fill(published));

  // Closed with 4008, and nothing more was queued for it after that.
  expect(slowSession.closeCode).toBe(4008);
  expect(slowSession.bufferedAmount).toBeLessThanOrEqual(LIMIT + FRAME + 1024);
  // Once it reads again it finds the close frame with 4008.
  (slow.ws as any)._socket.resume();
  expect((await slow.closed).code).toBe(4008);
  expect((await slowClosed)[0]).toBe(4008);
}, 120_000);
