// Issue 19, item 2: a client that subscribed and went away while an async
// onSubscribe hook decided left a ghost: a presence entry for good, a join
// with no leave, a per-user count that never fell to zero, and a closed
// session in the channel index. A subscribe for a closed session now changes nothing.
import { afterEach, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

it('a subscribe whose hook answers after the client left leaves no presence, join or index entry', async () => {
  let hookCalled = () => {};
  const called = new Promise<void>((resolve) => (hookCalled = resolve));
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  srv = await startServer({ jwtSecret: SECRET, namespaces: { team: { presence: true, joinLeave: 'user' } } });
  let hooked = 0;
  srv.server.onSubscribe(async (client) => {
    if (client.user !== 'ghost' || hooked++ > 0) return;
    hookCalled();
    await released;
  });
  const watcher = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'watcher' })}`);
  await watcher.ok({ type: 'subscribe', channel: 'team:a' });

  const leaving = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'ghost' })}`);
  leaving.send({ type: 'subscribe', id: 1, channel: 'team:a' });
  await called;
  await leaving.close();
  await expect.poll(() => srv!.server.operations.stats().connections).toBe(1);
  release();

  // The same user again: its subscribe is the first join the watcher sees, and its leave takes the user out.
  const again = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'ghost' })}`);
  await again.ok({ type: 'subscribe', channel: 'team:a' });
  const join = await watcher.next((f) => f.type === 'join' && f.payload.user === 'ghost');
  expect(join.payload.client).toBe(again.welcome.payload.client);
  const { clients } = await watcher.ok({ type: 'presence', channel: 'team:a' });
  expect(clients.map((c: { user: string }) => c.user).sort()).toEqual(['ghost', 'watcher']);
  await again.close();
  await watcher.next((f) => f.type === 'leave' && f.payload.user === 'ghost');
  expect((await watcher.ok({ type: 'presence', channel: 'team:a' })).clients.map((c: { user: string }) => c.user)).toEqual(['watcher']);
  expect(watcher.frames.filter((f) => f.type === 'join' && f.payload.user === 'ghost')).toHaveLength(1);
  const stats = srv.server.operations.stats();
  expect(stats.subscriptions).toBe(1);
  await watcher.close();
});
