// `subscribe` with `rewind: n` (docs/protocol.md, "Rewind"): every bad value
// the contract names is a bad_request, and the SDK rewinds once, then recovers
// with `since` after a reconnect. The broker-independent behaviour (order, no
// gap, no duplicate under a race) is in test/brokers/state-conformance.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import type { SubscribeResult } from '../../src/protocol/frames.js';
import { RawClient } from '../helpers/raw-client.js';
import { recorder } from '../helpers/recorder.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
let proxy: TcpProxy;

beforeAll(async () => {
  srv = await startServer({
    namespaces: {
      '': { subscribe: 'anyone', publish: 'anyone', history: { size: 10, ttl: 60_000 } },
      plain: { subscribe: 'anyone', publish: 'anyone' },
    },
  });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await proxy.close();
  await srv.close();
});

describe('bad rewinds', () => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['zero', { rewind: 0 }],
    ['negative', { rewind: -3 }],
    ['not an integer', { rewind: 1.5 }],
    ['a string', { rewind: '3' }],
    ['over the history size', { rewind: 11 }],
    ['with since', { rewind: 2, since: { epoch: 'e', offset: 0 } }],
  ];
  for (const [name, fields] of cases) {
    it(`refuses a rewind ${name} with bad_request, and keeps no subscription`, async () => {
      const client = await RawClient.connect(srv.wsUrl);
      const reply = await client.request({ type: 'subscribe', channel: 'bad', ...fields });
      expect(reply).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      // Nothing was left behind: a plain subscribe works.
      expect(await client.ok({ type: 'subscribe', channel: 'bad' })).toMatchObject({ channel: 'bad' });
      await client.close();
    });
  }

  it('refuses a rewind in a namespace without history', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.request({ type: 'subscribe', channel: 'plain:x', rewind: 1 });
    expect(reply).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    await client.close();
  });

  it('accepts a rewind of exactly the history size', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect(await client.ok({ type: 'subscribe', channel: 'full', rewind: 10 })).toMatchObject({ recovered: false });
    await client.close();
  });
});

it('SDK: rewinds on the first subscribe, then recovers with since after a reconnect', async () => {
  for (let i = 1; i <= 5; i++) await srv.server.publish('sdk-rewind', i);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 20, maxDelay: 100 } });
  const app = recorder();
  const subscription = client.subscribe('sdk-rewind', app.handler, { rewind: 3 });
  const replies: SubscribeResult[] = [];
  subscription.on('subscribed', (result) => replies.push(result));
  await app.until(3);
  expect(app.seen).toEqual([3, 4, 5]);

  const disconnected = new Promise((resolve) => client.on('disconnected', resolve));
  proxy.cut();
  await disconnected;
  await srv.server.publish('sdk-rewind', 6);
  await app.until(4);
  await srv.server.publish('sdk-rewind', 7);
  await app.until(5);
  // A second rewind would have sent 4 and 5 again; since recovers only 6.
  expect(app.seen).toEqual([3, 4, 5, 6, 7]);
  expect(replies.map((r) => r.recovered)).toEqual([false, true]);
  client.close();
});
