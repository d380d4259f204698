// Application hooks that decide: each refuses and allows with the code the
// client sees; each kind throws, rejects and hangs without taking the process
// down or stranding a session, and a drain still finishes at once.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SwitchboardError } from '../../src/protocol/codes.js';
import type { SwitchboardServer } from '../../src/server/index.js';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionsOf } from '../helpers/sessions.js';

let srv: TestServer | null = null;
let logged: string[] = [];
afterEach(async () => {
  await srv?.close();
  srv = null;
});

async function start(setup: (server: SwitchboardServer) => void, options: Record<string, unknown> = {}): Promise<TestServer> {
  logged = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(line) });
  srv = await startServer({ logger, hookTimeout: 300, namespaces: { '': { history: { size: 10, ttl: 60_000 }, presence: true } }, ...options });
  setup(srv.server);
  return srv;
}

/** Nothing is stranded: no session left in the core once clients are gone, and close() returns at once. */
async function nothingStranded(s: TestServer): Promise<void> {
  await expect.poll(() => s.server.operations.stats().connections).toBe(0);
  const started = Date.now();
  await s.close();
  srv = null;
  expect(Date.now() - started).toBeLessThan(1_000);
}

describe('authenticate', () => {
  it('accepts from the HTTP request, leaves it to the next hook or the JWT, and refuses with the contract status', async () => {
    const s = await start((server) => {
      server.authenticate((req) => (req.headers['x-api-key'] === 'good' ? { user: 'svc', info: { via: 'key' } } : undefined));
      server.authenticate((req) => {
        if (req.headers['x-api-key'] === 'bad') throw new SwitchboardError('forbidden', 'that key is revoked');
      });
    });
    const accepted = await RawClient.connect(s.wsUrl, { headers: { 'x-api-key': 'good' } });
    expect(accepted.welcome.payload.user).toBe('svc');
    const refused = await upgradeRequest(s.url, { 'x-api-key': 'bad' });
    expect(refused.status).toBe(403);
    expect(refused.body).toEqual({ error: { code: 'forbidden', message: 'that key is revoked' } });
    const anonymous = await RawClient.connect(s.wsUrl);
    expect(anonymous.welcome.payload.user).toBeNull();
    await Promise.all([accepted.close(), anonymous.close()]);
  });

  it('answers 500, 504 for a hook that throws or hangs, and logs it', async () => {
    const s = await start((server) =>
      server.authenticate((req) => {
        if (req.headers['x-mode'] === 'throw') throw new Error('auth backend exploded');
        if (req.headers['x-mode'] === 'hang') return new Promise(() => {});
      }),
    );
    expect((await upgradeRequest(s.url, { 'x-mode': 'throw' })).status).toBe(500);
    expect((await upgradeRequest(s.url, { 'x-mode': 'hang' })).status).toBe(504);
    expect(logged.some((l) => l.includes('authenticate hook failed') && l.includes('auth backend exploded'))).toBe(true);
    const fine = await RawClient.connect(s.wsUrl);
    await fine.close();
    await nothingStranded(s);
  });
});

describe('connect', () => {
  it('refuses with 4003 (4001 for unauthorized) before the welcome, and allows', async () => {
    const s = await start((server) =>
      server.onConnect(async ({ ip }) => {
        void ip;
      }),
    );
    const allowed = await RawClient.connect(s.wsUrl);
    expect(allowed.welcome.payload.client).toBeTruthy();
    await allowed.close();
    s.server.onConnect(() => {
      throw new SwitchboardError('forbidden', 'banned today');
    });
    await expect(RawClient.connect(s.wsUrl)).rejects.toThrow('closed with 4003');
    await nothingStranded(s);
  });

  it('closes 1011 when a connect hook throws, rejects or hangs', async () => {
    for (const mode of ['throw', 'reject', 'hang'] as const) {
      const s = await start((server) =>
        server.onConnect(() => {
          if (mode === 'throw') throw new Error('boom');
          if (mode === 'reject') return Promise.reject(new Error('boom'));
          return new Promise(() => {});
        }),
      );
      await expect(RawClient.connect(s.wsUrl)).rejects.toThrow('closed with 1011');
      expect(logged.some((l) => l.includes('connect hook failed') && l.includes('"client"'))).toBe(true);
      await nothingStranded(s);
    }
  });
});

it('holds frames sent before the welcome until the connect hooks have decided, then answers them', async () => {
  let release = () => {};
  const s = await start((server) => server.onConnect(() => new Promise<void>((resolve) => (release = resolve))));
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(s.wsUrl);
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(String(data))));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'publish', id: 1, channel: 'early', payload: 'first' }));
  await expect.poll(() => s.server.operations.stats().connections).toBe(1);
  expect(frames).toEqual([]);
  release();
  await expect.poll(() => frames.length).toBe(2);
  expect(frames[0].type).toBe('welcome');
  expect(frames[1]).toEqual({ type: 'reply', id: 1, ok: true, payload: { offset: 1 } });
  ws.close();
});

describe('subscribe', () => {
  it('refuses per client and channel, attaches info shown in presence, and answers internal when the hook throws', async () => {
    const s = await start((server) =>
      server.onSubscribe((client, channel) => {
        if (channel === 'vip') throw new SwitchboardError('forbidden', 'members only');
        if (channel === 'broken') throw new Error('hook bug');
        if (channel === 'slow') return new Promise(() => {});
        return { info: { seat: client.client.slice(0, 4) } };
      }),
    );
    const client = await RawClient.connect(s.wsUrl);
    expect((await client.request({ type: 'subscribe', channel: 'vip' })).error).toEqual({ code: 'forbidden', message: 'members only' });
    expect((await client.request({ type: 'subscribe', channel: 'broken' })).error.code).toBe('internal');
    expect((await client.request({ type: 'subscribe', channel: 'slow' })).error.code).toBe('timeout');
    await client.ok({ type: 'subscribe', channel: 'lobby' });
    const { clients } = await client.ok({ type: 'presence', channel: 'lobby' });
    expect(clients).toEqual([{ client: client.welcome.payload.client, user: null, info: { seat: client.welcome.payload.client.slice(0, 4) } }]);
    expect(logged.some((l) => l.includes('hook bug') && l.includes(client.welcome.payload.client))).toBe(true);
    // Nothing held for the refused ones.
    expect(sessionsOf(s.server)[0]!.subscriptions.size).toBe(1);
    await client.close();
    await nothingStranded(s);
  });
});

describe('presence info', () => {
  it("merges a subscribe hook's info over the connection's, its keys winning; a value that is not an object replaces", async () => {
    const s = await start((server) => {
      server.authenticate(() => ({ user: 'ann', info: { name: 'Ann', seat: 'none' } }));
      server.onSubscribe((_client, channel) => (channel === 'plain' ? { info: 'guest' } : channel === 'room' ? { info: { seat: '7' } } : undefined));
    });
    const client = await RawClient.connect(s.wsUrl);
    for (const channel of ['room', 'plain', 'quiet']) await client.ok({ type: 'subscribe', channel });
    const infoIn = async (channel: string) => ((await client.ok({ type: 'presence', channel })).clients as Array<{ info: unknown }>)[0]!.info;
    expect(await infoIn('room')).toEqual({ name: 'Ann', seat: '7' });
    expect(await infoIn('plain')).toBe('guest');
    expect(await infoIn('quiet')).toEqual({ name: 'Ann', seat: 'none' });
    await client.close();
  });
});

describe('publish', () => {
  it('refuses, replaces the payload before it is stored, and answers internal when the hook throws', async () => {
    const s = await start((server) =>
      server.onPublish((client, channel, payload: any) => {
        if (payload?.text === 'spam') throw new SwitchboardError('forbidden', 'no spam');
        if (payload?.text === 'bug') throw new Error('hook bug');
        return { payload: { ...payload, by: client.client } };
      }),
    );
    const client = await RawClient.connect(s.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'room' });
    expect((await client.request({ type: 'publish', channel: 'room', payload: { text: 'spam' } })).error).toEqual({ code: 'forbidden', message: 'no spam' });
    expect((await client.request({ type: 'publish', channel: 'room', payload: { text: 'bug' } })).error.code).toBe('internal');
    await client.ok({ type: 'publish', channel: 'room', payload: { text: 'hi' } });
    const stored = await client.ok({ type: 'history', channel: 'room' });
    expect(stored.publications.map((p: any) => p.payload)).toEqual([{ text: 'hi', by: client.welcome.payload.client }]);
    expect(client.messages('room').map((m) => m.payload)).toEqual([{ text: 'hi', by: client.welcome.payload.client }]);
    await client.close();
    await nothingStranded(s);
  });

  it('checks a namespace publish schema: a refused publication is stored nowhere and delivered to no one', async () => {
    const s = await start((server) => server.publishSchema('chat', z.object({ text: z.string().max(10) })), {
      namespaces: { chat: { history: { size: 10, ttl: 60_000 } } },
    });
    const publisher = await RawClient.connect(s.wsUrl);
    const reader = await RawClient.connect(s.wsUrl);
    await reader.ok({ type: 'subscribe', channel: 'chat:a' });
    const refused = await publisher.request({ type: 'publish', channel: 'chat:a', payload: { text: 'far too long for this' } });
    expect(refused.error.code).toBe('bad_request');
    expect(refused.error.message).toMatch(/^invalid payload for chat:a: text: /);
    await publisher.ok({ type: 'publish', channel: 'chat:a', payload: { text: 'ok' } });
    await reader.next((f) => f.type === 'message');
    expect(reader.messages('chat:a').map((m) => m.payload)).toEqual([{ text: 'ok' }]);
    expect((await reader.ok({ type: 'history', channel: 'chat:a' })).publications.map((p: any) => p.payload)).toEqual([{ text: 'ok' }]);
    await Promise.all([publisher.close(), reader.close()]);
  });
});

describe('disconnect', () => {
  it('calls every listener with the code, whatever the others do', async () => {
    const seen: number[] = [];
    const s = await start((server) => {
      server.onDisconnect(() => {
        throw new Error('first listener bug');
      });
      server.onDisconnect(() => Promise.reject(new Error('second listener bug')));
      server.onDisconnect((_client, code) => void seen.push(code));
    });
    const client = await RawClient.connect(s.wsUrl);
    await client.close();
    await expect.poll(() => seen).toEqual([1000]);
    await expect.poll(() => logged.filter((l) => l.includes('disconnect hook failed')).length).toBe(2);
    await nothingStranded(s);
  });
});
