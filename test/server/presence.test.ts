// Presence and join/leave events, including clients that vanish without a
// close frame (killed, or silent until the heartbeat gives up on them).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({
    jwtSecret: SECRET,
    heartbeat: { interval: 100, timeout: 100 },
    namespaces: {
      chat: { subscribe: 'authenticated', publish: 'subscribers', presence: true, joinLeave: true },
      quiet: { presence: true },
      '': {},
    },
  });
});
afterAll(() => srv.close());

async function user(name: string, info: unknown = { name }): Promise<RawClient> {
  return RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: name, info })}`);
}

const clients = async (watcher: RawClient, channel: string) => ((await watcher.ok({ type: 'presence', channel })).clients as any[]).map((c) => c.user).sort();

it('lists subscribers with client, user and the token info claim', async () => {
  const ann = await user('ann', { name: 'Ann', colour: 'teal' });
  await ann.ok({ type: 'subscribe', channel: 'chat:list' });
  const presence = await ann.ok({ type: 'presence', channel: 'chat:list' });
  expect(presence).toEqual({ clients: [{ client: ann.welcome.payload.client, user: 'ann', info: { name: 'Ann', colour: 'teal' } }] });
  await ann.close();
});

it('sends join and leave events to the other subscribers', async () => {
  const ann = await user('ann');
  await ann.ok({ type: 'subscribe', channel: 'chat:events' });
  const bob = await user('bob');
  await bob.ok({ type: 'subscribe', channel: 'chat:events' });
  const join = await ann.next((f) => f.type === 'join' && f.payload.user === 'bob');
  expect(join).toEqual({ type: 'join', channel: 'chat:events', payload: { client: bob.welcome.payload.client, user: 'bob', info: { name: 'bob' } } });
  await bob.ok({ type: 'unsubscribe', channel: 'chat:events' });
  const leave = await ann.next((f) => f.type === 'leave');
  expect(leave.payload.user).toBe('bob');
  expect(await clients(ann, 'chat:events')).toEqual(['ann']);
  await Promise.all([ann.close(), bob.close()]);
});

it('removes a client killed without a close frame, with a leave event', async () => {
  const ann = await user('ann');
  await ann.ok({ type: 'subscribe', channel: 'chat:killed' });
  const kim = await user('kim');
  await kim.ok({ type: 'subscribe', channel: 'chat:killed' });
  expect(await clients(ann, 'chat:killed')).toEqual(['ann', 'kim']);
  // Destroy the TCP socket: no close frame is ever sent.
  (kim.ws as any)._socket.destroy();
  const leave = await ann.next((f) => f.type === 'leave');
  expect(leave.payload.user).toBe('kim');
  expect(await clients(ann, 'chat:killed')).toEqual(['ann']);
  await ann.close();
});

it('removes a client that stops answering heartbeats', async () => {
  const ann = await user('ann');
  await ann.ok({ type: 'subscribe', channel: 'chat:silent' });
  const sid = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'sid' })}`, { autoPong: false });
  await sid.ok({ type: 'subscribe', channel: 'chat:silent' });
  // Keep ann alive with app pings while sid goes silent.
  ann.ws.on('ping', () => ann.send({ type: 'ping' }));
  const leave = await ann.next((f) => f.type === 'leave', 5_000);
  expect(leave.payload.user).toBe('sid');
  expect(await clients(ann, 'chat:silent')).toEqual(['ann']);
  await ann.close();
});

it('sends no join or leave events where the namespace does not enable them', async () => {
  const watcher = await user('watcher');
  await watcher.ok({ type: 'subscribe', channel: 'quiet:room' });
  const other = await user('other');
  await other.ok({ type: 'subscribe', channel: 'quiet:room' });
  expect(await clients(watcher, 'quiet:room')).toEqual(['other', 'watcher']);
  await other.close();
  await srv.server.publish('quiet:room', 'marker');
  await watcher.next((f) => f.type === 'message');
  expect(watcher.frames.some((f) => f.type === 'join' || f.type === 'leave')).toBe(false);
  await watcher.close();
});

it('is not_found where presence is off, and follows the subscribe rules', async () => {
  const anon = await RawClient.connect(srv.wsUrl);
  expect((await anon.request({ type: 'presence', channel: 'plain' })).error.code).toBe('not_found');
  expect((await anon.request({ type: 'presence', channel: 'chat:list' })).error.code).toBe('forbidden');
  await anon.close();
});
