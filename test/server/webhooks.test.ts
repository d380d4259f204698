// Webhooks over real HTTP (docs/protocol.md section 11): every event type,
// each signed and checked with `standardwebhooks`' Webhook.verify; the offline
// grace window; retries with the same webhook-id on a 500 and on a receiver
// that is down or answers garbage; and the bound that drops the oldest.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';
import { WEBHOOK_SECRET, WebhookReceiver } from '../helpers/webhook-receiver.js';
import type { ServerOptions } from '../../src/server/index.js';
import { WEBHOOK_EVENTS } from '../../src/server/webhooks/events.js';

const ALL = [...WEBHOOK_EVENTS];

const servers: TestServer[] = [];
const receivers: WebhookReceiver[] = [];
const clients: RawClient[] = [];
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function receiver(port = 0): Promise<WebhookReceiver> {
  const r = await WebhookReceiver.start(port);
  receivers.push(r);
  return r;
}

async function server(url: string, options: ServerOptions = {}, events: string[] = ALL): Promise<TestServer> {
  const s = await startServer({
    jwtSecret: SECRET,
    webhooks: [{ url, secret: WEBHOOK_SECRET, events: events as never }],
    webhookOfflineDelay: 300,
    namespaces: { room: { presence: true }, '': { subscribe: 'anyone', publish: 'anyone' } },
    ...options,
  });
  servers.push(s);
  return s;
}

async function client(s: TestServer, user: string | null): Promise<RawClient> {
  const c = await RawClient.connect(s.wsUrl, user ? { headers: { Authorization: `Bearer ${await sign({ sub: user })}` } } : {});
  clients.push(c);
  return c;
}

async function metric(s: TestServer, line: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(' ').pop()) : 0;
}

describe('webhooks', () => {
  it('sends every event type, signed, with the contract’s data, each id once, in order for the user', async () => {
    const r = await receiver();
    const s = await server(r.url);
    const ann = await client(s, 'ann');
    const id = ann.welcome.payload.client;
    await ann.ok({ type: 'subscribe', channel: 'room:1' });
    await ann.ok({ type: 'unsubscribe', channel: 'room:1' });
    ann.ws.close(1000, 'bye');
    await r.next((c) => c.type === 'user.offline');
    expect(r.forged).toEqual([]);
    const info = null;
    expect(r.calls.map((c) => [c.type, c.data])).toEqual([
      ['user.online', { user: 'ann' }],
      ['client.connected', { client: id, user: 'ann' }],
      ['channel.occupied', { channel: 'room:1' }],
      ['presence.join', { channel: 'room:1', client: id, user: 'ann', info }],
      ['presence.leave', { channel: 'room:1', client: id, user: 'ann', info }],
      ['channel.vacated', { channel: 'room:1' }],
      ['client.disconnected', { client: id, user: 'ann', code: 1000, reason: 'bye' }],
      ['user.offline', { user: 'ann' }],
    ]);
    expect(new Set(r.calls.map((c) => c.id)).size).toBe(8);
    for (const call of r.calls) {
      expect(call.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(call.timestamp - Date.now() / 1000)).toBeLessThan(60);
    }
    expect(await metric(s, 'switchboard_webhooks_sent_total{type="user.offline"}')).toBe(1);
  });

  it('sends no offline (and no second online) for a reconnect inside webhookOfflineDelay, and one offline after it', async () => {
    const r = await receiver();
    const s = await server(r.url, { webhookOfflineDelay: 1_500 });
    const first = await client(s, 'bea');
    first.ws.close();
    await r.next((c) => c.type === 'client.disconnected');
    const second = await client(s, 'bea'); // inside the window
    second.ws.close();
    const secondId = second.welcome.payload.client;
    await r.next((c) => c.type === 'user.offline');
    const types = r.calls.map((c) => c.type);
    expect(types.filter((t) => t === 'user.online')).toHaveLength(1);
    expect(types.filter((t) => t === 'user.offline')).toHaveLength(1);
    // The one offline follows the second connection's end: the first end sent none.
    const lastDisconnect = r.calls.findIndex((c) => c.type === 'client.disconnected' && c.data.client === secondId);
    expect(types.indexOf('user.offline')).toBeGreaterThan(lastDisconnect);
  });

  it('retries a call answered 500 with the same webhook-id, and counts the retry', async () => {
    const r = await receiver();
    let failures = 1;
    r.answer = () => (failures-- > 0 ? 500 : 200);
    const s = await server(r.url, {}, ['client.connected']);
    await client(s, null);
    await r.until(() => r.calls.length === 2);
    expect(r.calls[0]!.id).toBe(r.calls[1]!.id);
    expect(r.calls[1]!.timestamp).toBeGreaterThanOrEqual(r.calls[0]!.timestamp);
    expect(await metric(s, 'switchboard_webhooks_retried_total{type="client.connected"}')).toBe(1);
    expect(await metric(s, 'switchboard_webhooks_sent_total{type="client.connected"}')).toBe(1);
  });

  it('keeps an event while its receiver answers garbage or is down, and sends it once it is back', async () => {
    const port = await freePort();
    // First a "receiver" that answers bytes that are not HTTP, then none at all, then a real one.
    let attempted!: () => void;
    const garbageSeen = new Promise<void>((resolve) => (attempted = resolve));
    const garbage = net.createServer((socket) => {
      attempted();
      socket.write('this is not HTTP\r\n\r\n', () => socket.destroy());
    });
    await new Promise<void>((resolve) => garbage.listen(port, '127.0.0.1', resolve));
    const s = await server(`http://127.0.0.1:${port}/events`, {}, ['client.connected']);
    const c = await client(s, null);
    await garbageSeen;
    await new Promise((resolve) => garbage.close(resolve));
    const r = await receiver(port);
    const call = await r.next((x) => x.type === 'client.connected');
    expect(call.data.client).toBe(c.welcome.payload.client);
    expect(await metric(s, 'switchboard_webhooks_retried_total{type="client.connected"}')).toBeGreaterThanOrEqual(1);
    // The server stayed up and serves on.
    await client(s, null);
  });

  it('drops the oldest events past limits.webhookQueue, counts them, and delivers the newest', async () => {
    const r = await receiver();
    let release!: (status: number) => void;
    const held = new Promise<number>((resolve) => (release = resolve));
    r.answer = (call) => (r.calls[0] === call ? held : 204);
    const s = await server(r.url, { limits: { webhookQueue: 3 } }, ['client.connected']);
    const ids: string[] = [];
    ids.push((await client(s, null)).welcome.payload.client);
    await r.until(() => r.calls.length === 1); // the first is in flight, and stays there
    for (let i = 0; i < 5; i++) ids.push((await client(s, null)).welcome.payload.client);
    expect(await metric(s, 'switchboard_webhooks_dropped_total{reason="bound"}')).toBe(3);
    expect(await metric(s, 'switchboard_webhooks_queued')).toBe(3);
    release(204);
    await r.until(() => r.calls.length === 4);
    expect(r.calls.map((c) => c.data.client)).toEqual([ids[0], ids[3], ids[4], ids[5]]);
  });

  it('refuses a bad webhook config at load, naming the key', async () => {
    const { parseConfig } = await import('../../src/server/config.js');
    expect(() => parseConfig({ webhooks: [{ url: 'ftp://x', secret: WEBHOOK_SECRET, events: ['user.online'] }] })).toThrow(/webhooks\.0\.url/);
    expect(() => parseConfig({ webhooks: [{ url: 'http://x', secret: 'plain', events: ['user.online'] }] })).toThrow(/webhooks\.0\.secret/);
    expect(() => parseConfig({ webhooks: [{ url: 'http://x', secret: WEBHOOK_SECRET, events: ['user.gone'] }] })).toThrow(/webhooks\.0\.events/);
    expect(() => parseConfig({ webhookOfflineDelay: -1 })).toThrow(/webhookOfflineDelay/);
    expect(parseConfig({}).limits.webhookQueue).toBe(10_000);
  });
});
