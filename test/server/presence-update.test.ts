// presence_update (docs/protocol.md, "Presence updates"): the errors the
// contract names, the bound on info, the HTTP API, and a namespace without
// join/leave. Across nodes and on every broker: test/brokers/state-conformance.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwitchboardError } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const API_KEY = 'presence-key';
let srv: TestServer;
const clients: RawClient[] = [];

beforeAll(async () => {
  srv = await startServer({
    apiKey: API_KEY,
    limits: { presenceInfoBytes: 100 },
    namespaces: {
      room: { presence: true, joinLeave: true },
      quiet: { presence: true },
      '': {},
    },
  });
  // The application decides what a client may show: none on room:locked, and its own name kept.
  srv.server.onPresenceUpdate((client, channel, info) => {
    if (channel === 'room:locked') throw new SwitchboardError('forbidden', 'presence is fixed here');
    if (channel === 'room:named') return { info: { ...(info as object), name: 'from the server' } };
    if (channel === 'room:broken') throw new Error('hook bug');
  });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await srv.close();
});

async function subscribed(channel: string): Promise<RawClient> {
  const client = await RawClient.connect(srv.wsUrl);
  clients.push(client);
  await client.ok({ type: 'subscribe', channel });
  return client;
}

async function api(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv.url}${path}`, {
    method: 'POST',
    headers: { authorization: `apikey ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function limitHits(): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(/^switchboard_limit_hits_total\{limit="presenceInfoBytes"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

describe('refusals', () => {
  it('answers not_subscribed on a channel the client did not subscribe', async () => {
    const client = await subscribed('room:a');
    const reply = await client.request({ type: 'presence_update', channel: 'room:b', info: {} });
    expect(reply).toMatchObject({ ok: false, error: { code: 'not_subscribed' } });
  });

  it('answers payload_too_large for info over limits.presenceInfoBytes, counts the hit, and keeps the old info', async () => {
    const client = await subscribed('room:big');
    const before = await limitHits();
    const reply = await client.request({ type: 'presence_update', channel: 'room:big', info: { text: 'x'.repeat(200) } });
    expect(reply).toMatchObject({ ok: false, error: { code: 'payload_too_large' } });
    expect(await limitHits()).toBe(before + 1);
    const { clients: present } = await client.ok({ type: 'presence', channel: 'room:big' });
    expect(present[0].info).toBeNull();
  });

  it('answers bad_request without info, or with a bad channel', async () => {
    const client = await subscribed('room:c');
    expect(await client.request({ type: 'presence_update', channel: 'room:c' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await client.request({ type: 'presence_update', channel: 'bad channel', info: 1 })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});

it('in a namespace without join/leave, changes the presence list and sends no frame', async () => {
  const watcher = await subscribed('quiet:x');
  const mover = await subscribed('quiet:x');
  await mover.ok({ type: 'presence_update', channel: 'quiet:x', info: { typing: true } });
  const { clients: present } = await watcher.ok({ type: 'presence', channel: 'quiet:x' });
  expect(present.find((e: any) => e.client === mover.welcome.payload.client).info).toEqual({ typing: true });
  expect(watcher.frames.some((f) => f.type === 'presence_update')).toBe(false);
});

it('keeps the updated info for the leave event', async () => {
  const watcher = await subscribed('room:leave');
  const mover = await subscribed('room:leave');
  await mover.ok({ type: 'presence_update', channel: 'room:leave', info: { status: 'busy' } });
  await mover.close();
  const leave = await watcher.next((f) => f.type === 'leave');
  expect(leave.payload.info).toEqual({ status: 'busy' });
});

describe('POST /api/presence/update', () => {
  it('updates a user’s or client’s subscriptions and says how many', async () => {
    const watcher = await subscribed('room:api');
    const mover = await subscribed('room:api');
    const client = mover.welcome.payload.client;
    expect(await api('/api/presence/update', { client, channel: 'room:api', info: { seat: 1 } })).toEqual({ status: 200, body: { updated: 1 } });
    expect((await watcher.next((f) => f.type === 'presence_update')).payload).toEqual({ client, user: null, info: { seat: 1 } });
    // A client not on the channel is not counted.
    expect(await api('/api/presence/update', { client, channel: 'room:elsewhere', info: {} })).toEqual({ status: 200, body: { updated: 0 } });
  });

  it('refuses a bad body (400), info over the bound (413), an unknown namespace (404)', async () => {
    expect((await api('/api/presence/update', { channel: 'room:x', info: {} })).status).toBe(400);
    expect((await api('/api/presence/update', { user: 'u', channel: 'room:x' })).status).toBe(400);
    const big = await api('/api/presence/update', { user: 'u', channel: 'room:x', info: 'x'.repeat(200) });
    expect(big).toMatchObject({ status: 413, body: { error: { code: 'payload_too_large' } } });
    expect((await api('/api/presence/update', { user: 'u', channel: 'nowhere:x', info: {} })).status).toBe(404);
  });
});

describe('the presenceUpdate hook', () => {
  it('refuses with the error it throws, and internal for a bug, keeping the old info', async () => {
    const locked = await subscribed('room:locked');
    expect(await locked.request({ type: 'presence_update', channel: 'room:locked', info: { x: 1 } })).toMatchObject({
      ok: false,
      error: { code: 'forbidden', message: 'presence is fixed here' },
    });
    const broken = await subscribed('room:broken');
    expect(await broken.request({ type: 'presence_update', channel: 'room:broken', info: { x: 1 } })).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect((await broken.ok({ type: 'presence', channel: 'room:broken' })).clients[0].info).toBeNull();
  });

  it('stores and sends the info it returns', async () => {
    const watcher = await subscribed('room:named');
    const mover = await subscribed('room:named');
    await mover.ok({ type: 'presence_update', channel: 'room:named', info: { status: 'away', name: 'forged' } });
    const update = await watcher.next((f) => f.type === 'presence_update');
    expect(update.payload.info).toEqual({ status: 'away', name: 'from the server' });
  });
});
