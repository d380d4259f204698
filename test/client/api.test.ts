// The client's promises: states and events, requests that settle exactly
// once (reply, typed error, timeout, abort), the offline queue, and what each
// close code makes it do.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, SwitchboardError, type StateChange, type SwitchboardClient } from '../../src/client/node.js';
import { createServer } from '../../src/server/index.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const fast = { reconnect: { initialDelay: 20, maxDelay: 50 } };

beforeAll(async () => {
  srv = await startServer({
    apiKey: 'k',
    namespaces: {
      '': { history: { size: 100, ttl: 60_000 } },
      room: { presence: true, joinLeave: true },
      feed: { publish: 'server' },
      vip: { subscribe: 'authenticated' },
    },
  });
  srv.server.rpc('echo', (payload) => payload).rpc('hang', () => new Promise(() => {}));
});
afterAll(() => srv.close());

const nextEvent = <K extends 'connected' | 'disconnected' | 'closed'>(client: SwitchboardClient, event: K) =>
  new Promise<K extends 'connected' ? { client: string } : StateChange>((resolve) => {
    const off = client.on(event, (payload: any) => {
      off();
      resolve(payload);
    });
  });

describe('states', () => {
  it('goes connecting → connected with the welcome, and closed on close()', async () => {
    const client = connect(srv.wsUrl);
    const states: string[] = [];
    client.on('state', (s) => states.push(s.state));
    expect(client.state).toBe('connecting');
    const welcome = await nextEvent(client, 'connected');
    expect(welcome.client).toBe(client.session!.client);
    client.close();
    expect(states).toEqual(['connected', 'closed']);
    expect(client.state).toBe('closed');
    expect(() => client.subscribe('x', () => {})).toThrow(SwitchboardError);
  });
});

describe('requests', () => {
  let client: SwitchboardClient;
  beforeAll(async () => {
    client = connect(srv.wsUrl);
    await nextEvent(client, 'connected');
  });
  afterAll(() => client.close());

  it('resolves with the reply', async () => {
    expect(await client.rpc('echo', { a: 1 })).toEqual({ a: 1 });
    expect(await client.publish('news', 'hi')).toEqual({ offset: 1 });
  });

  it('rejects with a typed error carrying the contract code', async () => {
    const error = await client.rpc('missing', null).catch((e) => e);
    expect(error).toBeInstanceOf(SwitchboardError);
    expect(error.code).toBe('not_found');
    expect((await client.publish('feed:x', 1).catch((e) => e)).code).toBe('forbidden');
  });

  it('rejects with code timeout when no reply comes in time', async () => {
    const error = await client.rpc('hang', null, { timeout: 100 }).catch((e) => e);
    expect(error).toMatchObject({ code: 'timeout' });
  });

  it('rejects with the abort reason when aborted, and at once when already aborted', async () => {
    const controller = new AbortController();
    const pending = client.rpc('hang', null, { signal: controller.signal });
    controller.abort();
    expect((await pending.catch((e) => e)).name).toBe('AbortError');
    expect((await client.rpc('echo', 1, { signal: AbortSignal.abort() }).catch((e) => e)).name).toBe('AbortError');
  });

  it('gives presence and history', async () => {
    await client.publish('log', 'one');
    const history = await client.history('log', { limit: 5 });
    expect(history.publications.map((p) => p.payload)).toEqual(['one']);
    expect((await client.presence('room:x')).clients).toEqual([]);
  });
});

describe('subscriptions', () => {
  it('delivers, and reports join and leave', async () => {
    const a = connect(srv.wsUrl);
    const got: unknown[] = [];
    const sub = a.subscribe('room:1', (payload) => got.push(payload));
    await sub.ready;
    const joined = new Promise((resolve) => sub.on('join', resolve));
    const left = new Promise((resolve) => sub.on('leave', resolve));
    const b = connect(srv.wsUrl);
    await b.subscribe('room:1', () => {}).ready;
    expect(await joined).toMatchObject({ client: b.session!.client });
    b.close();
    expect(await left).toMatchObject({ client: expect.any(String) });
    await srv.server.publish('room:1', 'hello');
    await expect.poll(() => got).toEqual(['hello']);
    await sub.unsubscribe();
    a.close();
  });

  it('reports a refused subscription as an error and a rejected ready', async () => {
    const client = connect(srv.wsUrl);
    const sub = client.subscribe('vip:lounge', () => {});
    const errored = new Promise<SwitchboardError>((resolve) => sub.on('error', resolve));
    await expect(sub.ready).rejects.toMatchObject({ code: 'forbidden' });
    expect((await errored).code).toBe('forbidden');
    expect(sub.active).toBe(false);
    // The channel is free again for a new attempt.
    expect(() => client.subscribe('vip:lounge', () => {})).not.toThrow();
    client.close();
  });
});

describe('the offline queue', () => {
  it('holds requests until the server is reachable, and sends them then', async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/ws`, fast);
    const refused = await nextEvent(client, 'disconnected');
    expect(refused).toMatchObject({ willRetry: true, delay: expect.any(Number) });
    const echoed = client.rpc('echo', 'queued', { timeout: 10_000 });
    const expired = client.publish('late', 'never sent', { timeout: 50 });
    expect(await expired.catch((e) => e)).toMatchObject({ code: 'timeout' });

    const later = createServer({ logger: pino({ level: 'silent' }) }).rpc('echo', (p) => p);
    await later.listen(port, '127.0.0.1');
    expect(await echoed).toBe('queued');
    // The expired publish never reached the server.
    expect((await client.history('late')).offset).toBe(0);
    client.close();
    await later.close();
  });

  it('rejects at once when full, and everything when the client closes', async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/ws`, { ...fast, queue: { maxCount: 2 } });
    const first = client.publish('a', 1);
    const second = client.publish('a', 2);
    await expect(client.publish('a', 3)).rejects.toMatchObject({ code: 'unavailable', message: 'offline queue is full' });
    client.close();
    await expect(first).rejects.toMatchObject({ code: 'unavailable' });
    await expect(second).rejects.toMatchObject({ code: 'unavailable' });
    await expect(client.publish('a', 4)).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('ends subscriptions on close: a ready still pending rejects', async () => {
    const port = await freePort();
    const client = connect(`ws://127.0.0.1:${port}/ws`, fast);
    const subscription = client.subscribe('never', () => {});
    client.close();
    await expect(subscription.ready).rejects.toMatchObject({ code: 'unavailable', message: 'client is closed' });
    expect(subscription.active).toBe(false);
  });
});

describe('connecting', () => {
  it('abandons and retries an attempt that gets no welcome', async () => {
    // Accepts TCP connections and never answers: a hung server or proxy.
    const mute = net.createServer(() => {});
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const { port } = mute.address() as AddressInfo;
    const client = connect(`ws://127.0.0.1:${port}/ws`, { connectTimeout: 200 });
    expect(await nextEvent(client, 'disconnected')).toMatchObject({ code: 1006, reason: 'no welcome in time', willRetry: true });
    client.close();
    mute.close();
  });

  it('closes for good, with the reason, on a URL no WebSocket can open', async () => {
    const client = connect('not a url');
    expect(await nextEvent(client, 'closed')).toMatchObject({ code: 1006, reason: 'cannot open a WebSocket to this URL', willRetry: false });
  });
});

describe('close codes', () => {
  it('stops for good after 4003 from the API', async () => {
    const client = connect(srv.wsUrl, fast);
    await nextEvent(client, 'connected');
    const closed = nextEvent(client, 'closed');
    await fetch(`${srv.url}/api/disconnect`, {
      method: 'POST',
      headers: { Authorization: 'apikey k', 'Content-Type': 'application/json' },
      body: JSON.stringify({ client: client.session!.client, reason: 'go away' }),
    });
    expect(await closed).toMatchObject({ state: 'closed', code: 4003, reason: 'go away', willRetry: false });
  });

  it('reconnects after 4000, and after the 1012 of a drain waits the retryIn it was given, with the delay it announces', async () => {
    const client = connect(srv.wsUrl, fast);
    await nextEvent(client, 'connected');
    const first = client.session!.client;
    const dropped = nextEvent(client, 'disconnected');
    const again = nextEvent(client, 'connected');
    await fetch(`${srv.url}/api/disconnect`, {
      method: 'POST',
      headers: { Authorization: 'apikey k', 'Content-Type': 'application/json' },
      body: JSON.stringify({ client: first, code: 4000, reason: 'rebalance' }),
    });
    const change = await dropped;
    expect(change).toMatchObject({ code: 4000, willRetry: true });
    expect(change.delay).toBeLessThanOrEqual(50);
    expect((await again).client).not.toBe(first);

    const other = await startServer();
    const c2 = connect(other.wsUrl, fast);
    await nextEvent(c2, 'connected');
    const going = nextEvent(c2, 'disconnected');
    await other.close();
    const restart = await going;
    expect(restart).toMatchObject({ code: 1012, willRetry: true });
    const { retryIn } = JSON.parse(restart.reason!) as { retryIn: number };
    expect(restart.delay).toBeGreaterThanOrEqual(retryIn);
    // A hint past maxDelay (50 ms here) is waited out as it is: no jitter on top.
    expect(retryIn).toBeGreaterThan(50);
    expect(restart.delay).toBe(retryIn);
    c2.close();
    client.close();
  });
});
