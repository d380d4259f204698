// A publish made while the SDK was offline, on a namespace where only
// subscribers may publish, was refused after the reconnect: the SDK sent its
// queue right behind the resubscribes, and the server, still asking the
// subscribe hook, checked the publish before the subscription was back
// ("subscribe to room:x before publishing on it"). The queue now waits until
// the welcome's resubscribes are answered.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
let proxy: TcpProxy;
let subscribes = 0;

beforeAll(async () => {
  srv = await startServer({ namespaces: { room: { publish: 'subscribers', history: { size: 10, ttl: 60_000 } }, '': {} } });
  // The resubscribe's hook answers a little late, as a real one asking a
  // database does: the window in which the queued publish used to arrive first.
  srv.server.onSubscribe(async () => {
    if (++subscribes > 1) await new Promise((resolve) => setTimeout(resolve, 50));
    return undefined;
  });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await proxy.close();
  await srv.close();
});

it('sends what was queued offline only after the subscriptions are back', async () => {
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 20, maxDelay: 50 } });
  const received: unknown[] = [];
  const subscription = client.subscribe('room:x', (payload) => received.push(payload));
  await subscription.ready;

  const away = new Promise((resolve) => client.on('disconnected', resolve));
  const target = proxy.target;
  proxy.target = await freePort();
  proxy.cut();
  await away;

  const published = client.publish('room:x', { n: 1 }, { idempotencyKey: 'offline-1' });
  proxy.target = target;
  client.reconnectNow();
  await expect(published).resolves.toMatchObject({ offset: 1 });
  await expect.poll(() => received).toEqual([{ n: 1 }]);
  expect(subscribes).toBe(2);
  client.close();
});
