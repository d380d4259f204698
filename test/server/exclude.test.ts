// Excluding the publisher (docs/protocol.md, "Excluding the publisher"): per
// publish or per subscription, the sender is not sent its own publication,
// others are, and recovery stays exact: after a reconnect the SDK neither
// replays its own publications to the handler nor misses anyone else's.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { recorder } from '../helpers/recorder.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ namespaces: { '': { history: { size: 100, ttl: 600_000 } } } });
});
afterAll(() => srv.close());

describe('raw protocol', () => {
  it('per publish: the sender is not sent it, everyone else is', async () => {
    const ann = await RawClient.connect(srv.wsUrl);
    const bob = await RawClient.connect(srv.wsUrl);
    await ann.ok({ type: 'subscribe', channel: 'ex-publish' });
    await bob.ok({ type: 'subscribe', channel: 'ex-publish' });
    expect(await ann.ok({ type: 'publish', channel: 'ex-publish', payload: 'mine', exclude: 'self' })).toEqual({ offset: 1 });
    await bob.ok({ type: 'publish', channel: 'ex-publish', payload: 'bob' });
    await ann.next((f) => f.type === 'message' && f.offset === 2);
    await bob.next((f) => f.type === 'message' && f.offset === 2);
    expect(ann.messages().map((m) => m.payload)).toEqual(['bob']);
    expect(bob.messages().map((m) => m.payload)).toEqual(['mine', 'bob']);
    // The history is everyone's, without the server's bookkeeping.
    const history = await bob.ok({ type: 'history', channel: 'ex-publish' });
    expect(history.publications[0]).toEqual({ offset: 1, payload: 'mine', from: { client: ann.welcome.payload.client, user: null } });
    await Promise.all([ann.close(), bob.close()]);
  });

  it('per subscription: none of the subscriber’s own publications come back', async () => {
    const ann = await RawClient.connect(srv.wsUrl);
    const bob = await RawClient.connect(srv.wsUrl);
    await ann.ok({ type: 'subscribe', channel: 'ex-sub', exclude: 'self' });
    await bob.ok({ type: 'subscribe', channel: 'ex-sub' });
    await ann.ok({ type: 'publish', channel: 'ex-sub', payload: 'a1' });
    await ann.ok({ type: 'publish', channel: 'ex-sub', payload: 'a2' });
    await bob.ok({ type: 'publish', channel: 'ex-sub', payload: 'b1' });
    await ann.next((f) => f.type === 'message' && f.offset === 3);
    expect(ann.messages().map((m) => [m.offset, m.payload])).toEqual([[3, 'b1']]);
    await bob.next((f) => f.type === 'message' && f.offset === 3);
    expect(bob.messages()).toHaveLength(3);
    await Promise.all([ann.close(), bob.close()]);
  });
});

describe('SDK across a reconnect', () => {
  for (const mode of ['subscription', 'publish'] as const) {
    it(`excluded per ${mode}: the handler gets every other publication once and none of its own`, async () => {
      const proxy = await TcpProxy.start(Number(new URL(srv.url).port));
      const channel = `ex-sdk-${mode}`;
      const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 5, maxDelay: 20 } });
      const other = await RawClient.connect(srv.wsUrl);
      const app = recorder();
      const subscription = client.subscribe(channel, app.handler, mode === 'subscription' ? { exclude: 'self' } : {});
      await subscription.ready;
      const options = mode === 'publish' ? { exclude: 'self' as const } : {};
      await client.publish(channel, 'own-1', options);
      await other.ok({ type: 'publish', channel, payload: 'other-1' });
      await app.until(1);
      // Own publications the handler has not passed yet, then a cut: the resubscribe replays them.
      await client.publish(channel, 'own-2', options);
      await client.publish(channel, 'own-3', options);
      const back = new Promise((resolve) => client.on('connected', resolve));
      proxy.cut();
      await other.ok({ type: 'publish', channel, payload: 'other-2' });
      await back;
      await other.ok({ type: 'publish', channel, payload: 'other-3' });
      await app.until(3);
      expect(app.seen).toEqual(['other-1', 'other-2', 'other-3']);
      expect(subscription.position?.offset).toBe(6);
      client.close();
      await other.close();
      await proxy.close();
    });
  }
});
