// The SDK's live presence set (docs/client.md, "Live presence"): kept by
// join, leave and update frames, and refetched after a reconnect, so that
// joins, leaves and updates made while the client was away are in it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import type { PresenceEntry } from '../../src/protocol/frames.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
let proxy: TcpProxy;
const raws: RawClient[] = [];

beforeAll(async () => {
  srv = await startServer({ namespaces: { room: { presence: true, joinLeave: true }, '': {} } });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await Promise.all(raws.map((r) => r.close()));
  await proxy.close();
  await srv.close();
});

async function member(channel: string): Promise<RawClient> {
  const raw = await RawClient.connect(srv.wsUrl);
  raws.push(raw);
  await raw.ok({ type: 'subscribe', channel });
  return raw;
}

/** The set as sorted entries, to compare with the server's list. */
const entries = (set: ReadonlyMap<string, PresenceEntry>) => [...set.values()].sort((a, b) => a.client.localeCompare(b.client));
const serverList = async (channel: string) => (await srv.server.presence(channel)).clients.sort((a, b) => a.client.localeCompare(b.client));

it('is right after a reconnect during which others joined, left and changed their info', async () => {
  const channel = 'room:reconnect';
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 20, maxDelay: 50 } });
  const subscription = client.subscribe(channel, () => {});
  const syncs: Array<ReadonlyMap<string, PresenceEntry>> = [];
  const nextSync = () => new Promise<void>((resolve) => subscription.on('sync', () => resolve()));
  let synced = nextSync();
  subscription.on('sync', (set) => syncs.push(set));
  const set = subscription.presence;
  await synced;
  await subscription.updatePresence({ status: 'here' });

  const ann = await member(channel);
  const bob = await member(channel);
  const joined = new Promise<void>((resolve) => subscription.on('join', (e) => e.client === bob.welcome.payload.client && resolve()));
  await joined;
  expect(entries(set)).toEqual(await serverList(channel));

  // Cut the link, and hold the client off while the channel changes.
  const oldClient = client.session!.client;
  const away = new Promise((resolve) => client.on('disconnected', resolve));
  const target = proxy.target;
  proxy.target = await freePort();
  proxy.cut();
  await away;
  await ann.close();
  const cat = await member(channel);
  await bob.ok({ type: 'presence_update', channel, info: { status: 'typing' } });
  // The server has dropped the old connection's entry too (it saw the reset).
  await expect.poll(async () => (await serverList(channel)).some((e) => e.client === oldClient)).toBe(false);

  synced = nextSync();
  proxy.target = target;
  client.reconnectNow();
  await synced;
  const now = await serverList(channel);
  expect(entries(set)).toEqual(now);
  expect(now.map((e) => e.client)).toEqual([bob.welcome.payload.client, cat.welcome.payload.client, client.session!.client].sort());
  expect(set.get(bob.welcome.payload.client)?.info).toEqual({ status: 'typing' });
  // Its own info, set before the reconnect, was set again on the new connection.
  expect(set.get(client.session!.client)?.info).toEqual({ status: 'here' });
  expect(syncs.length).toBeGreaterThanOrEqual(2);
  client.close();
});

it('follows join, update and leave frames between snapshots', async () => {
  const channel = 'room:live';
  const client = connect(srv.wsUrl);
  const subscription = client.subscribe(channel, () => {});
  const kinds: string[] = [];
  for (const kind of ['join', 'update', 'leave'] as const) subscription.on(kind, () => kinds.push(kind));
  const synced = new Promise<void>((resolve) => subscription.on('sync', () => resolve()));
  const set = subscription.presence;
  await synced;
  const dan = await member(channel);
  const id = dan.welcome.payload.client;
  const event = (kind: 'join' | 'update' | 'leave') => new Promise<void>((resolve) => subscription.on(kind, (e) => e.client === id && resolve()));
  let next = event('update');
  await dan.ok({ type: 'presence_update', channel, info: { x: 1 } });
  await next;
  expect(set.get(id)?.info).toEqual({ x: 1 });
  next = event('leave');
  await dan.close();
  await next;
  expect(set.has(id)).toBe(false);
  expect(kinds).toEqual(expect.arrayContaining(['join', 'update', 'leave']));
  client.close();
});
