// Fossil deltas (docs/protocol.md, "Delta compression"): what travels on
// JSON and MessagePack, when the full payload is sent instead, and the SDK
// applying deltas so the app sees whole payloads, also across a resubscribe.
import { decode } from '@msgpack/msgpack';
import { applyDelta } from 'fossil-delta';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../src/client/node.js';
import { fossil } from '../../src/client/delta.js';
import { msgpack } from '../../src/client/msgpack.js';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { recorder } from '../helpers/recorder.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

let srv: TestServer;
let proxy: TcpProxy;
const raws: RawClient[] = [];

beforeAll(async () => {
  srv = await startServer({
    namespaces: {
      doc: { delta: 'fossil', history: { size: 100, ttl: 60_000 } },
      plain: { history: { size: 100, ttl: 60_000 } },
      '': {},
    },
  });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
});
afterAll(async () => {
  await Promise.all(raws.map((r) => r.close()));
  await proxy.close();
  await srv.close();
});

/** A 5 KB document whose `tick` is the only field that changes. */
function documentAt(tick: number): Record<string, unknown> {
  const rows = Array.from({ length: 60 }, (_, i) => ({ id: i, name: `player-${i}`, score: i * 7, team: i % 2 ? 'red' : 'blue' }));
  return { tick, title: 'scoreboard', rows };
}

async function raw(options: { delta?: boolean; channel: string; protocols?: string }): Promise<RawClient> {
  const client = await RawClient.connect(srv.wsUrl);
  raws.push(client);
  await client.ok({ type: 'subscribe', channel: options.channel, ...(options.delta ? { delta: 'fossil' } : {}) });
  return client;
}

/** Wait for `client`'s message at `offset`. */
const at = (client: RawClient, offset: number) => client.next((f) => f.type === 'message' && f.offset === offset);

describe('refusals', () => {
  it('answers bad_request to delta in a namespace without it, and to an unknown format', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    raws.push(client);
    expect(await client.request({ type: 'subscribe', channel: 'plain:x', delta: 'fossil' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await client.request({ type: 'subscribe', channel: 'doc:x', delta: 'vcdiff' })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
  });
});

describe('on JSON', () => {
  it('sends the first publication in full, then Fossil deltas from the previous payload’s JSON text, smaller', async () => {
    const channel = 'doc:json';
    const client = await raw({ channel, delta: true });
    const sizes: number[] = [];
    client.ws.on('message', (data: Buffer) => sizes.push(data.byteLength));
    const first = documentAt(1);
    const o1 = await srv.server.publish(channel, first);
    const full = await at(client, o1!);
    expect(full.delta).toBeUndefined();
    expect(full.payload).toEqual(first);
    const second = documentAt(2);
    const o2 = await srv.server.publish(channel, second);
    const delta = await at(client, o2!);
    expect(delta.delta).toBe(true);
    expect(typeof delta.payload).toBe('string');
    // Each character is one byte of the delta; applied to the previous payload's JSON text it gives this one's.
    const bytes = Uint8Array.from(delta.payload as string, (c) => c.charCodeAt(0));
    const applied = applyDelta(new TextEncoder().encode(JSON.stringify(first)), bytes);
    expect(JSON.parse(new TextDecoder().decode(applied))).toEqual(second);
    // The delta frame is a small fraction of the full one.
    expect(sizes.at(-1)! * 5).toBeLessThan(sizes.at(-2)!);
  });

  it('sends the full payload when the delta is not smaller', async () => {
    const channel = 'doc:unlike';
    const client = await raw({ channel, delta: true });
    await srv.server.publish(channel, { a: 'x7Gq' });
    const o2 = await srv.server.publish(channel, { z: 'Pk2w' });
    const second = await at(client, o2!);
    expect(second.delta).toBeUndefined();
    expect(second.payload).toEqual({ z: 'Pk2w' });
  });

  it('never sends a delta to a subscriber that did not ask, or that missed the previous publication', async () => {
    const channel = 'doc:mixed';
    const asked = await raw({ channel, delta: true });
    const plain = await raw({ channel });
    await srv.server.publish(channel, documentAt(1));
    // Subscribed after the first: its first message is in full, then deltas like the others.
    const late = await raw({ channel, delta: true });
    const o2 = await srv.server.publish(channel, documentAt(2));
    const o3 = await srv.server.publish(channel, documentAt(3));
    expect((await at(asked, o2!)).delta).toBe(true);
    expect((await at(late, o2!)).delta).toBeUndefined();
    expect((await at(late, o3!)).delta).toBe(true);
    for (const offset of [o2!, o3!]) expect((await at(plain, offset)).delta).toBeUndefined();
  });
});

describe('on MessagePack', () => {
  it('sends binary deltas of the MessagePack bytes', async () => {
    const channel = 'doc:msgpack';
    const ws = new WebSocket(srv.wsUrl, 'switchboard.v1.msgpack');
    const frames: Frame[] = [];
    const sizes: number[] = [];
    let wake = () => {};
    ws.on('message', (data: Buffer) => {
      frames.push(decode(data) as Frame);
      sizes.push(data.byteLength);
      wake();
    });
    const until = async (check: () => boolean) => {
      while (!check()) await new Promise<void>((resolve) => (wake = resolve));
    };
    await until(() => frames.length === 1);
    ws.send(msgpack.encode({ type: 'subscribe', id: 1, channel, delta: 'fossil' }));
    await until(() => frames.some((f) => f.type === 'reply'));
    await srv.server.publish(channel, documentAt(1));
    await srv.server.publish(channel, documentAt(2));
    await until(() => frames.filter((f) => f.type === 'message').length === 2);
    const [full, delta] = frames.filter((f) => f.type === 'message');
    expect(full!.delta).toBeUndefined();
    expect(delta!.delta).toBe(true);
    expect(delta!.payload).toBeInstanceOf(Uint8Array);
    const applied = applyDelta(msgpack.encode(documentAt(1)) as Uint8Array, delta!.payload as Uint8Array);
    expect(decode(applied)).toEqual(documentAt(2));
    expect(sizes.at(-1)! * 5).toBeLessThan(sizes.at(-2)!);
    ws.close();
  });
});

describe('the SDK', () => {
  for (const [name, codec] of [
    ['JSON', undefined],
    ['MessagePack', msgpack],
  ] as const) {
    it(`applies deltas on ${name}: the app sees whole payloads, also after a resubscribe`, async () => {
      const channel = `doc:sdk-${name}`;
      const received: Array<{ delta: boolean }> = [];
      // The socket as the SDK gets it, with every frame it receives recorded.
      class Recording extends WebSocket {
        constructor(url: string, protocols?: string | string[]) {
          super(url, protocols);
          this.on('message', (data: Buffer, binary: boolean) => {
            const frame = (binary ? decode(data) : JSON.parse(data.toString())) as Frame;
            if (frame.type === 'message') received.push({ delta: frame.delta === true });
          });
        }
      }
      const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, {
        ...(codec ? { codec } : {}),
        delta: fossil,
        WebSocket: Recording as never,
        reconnect: { initialDelay: 20, maxDelay: 50 },
      });
      const app = recorder();
      const subscription = client.subscribe(channel, app.handler, { delta: 'fossil' });
      await subscription.ready;
      for (let tick = 1; tick <= 3; tick++) await srv.server.publish(channel, documentAt(tick));
      await app.until(3);

      const away = new Promise((resolve) => client.on('disconnected', resolve));
      proxy.cut();
      await away;
      await srv.server.publish(channel, documentAt(4)); // recovered after the resubscribe
      await app.until(4);
      for (let tick = 5; tick <= 6; tick++) await srv.server.publish(channel, documentAt(tick));
      await app.until(6);

      expect(app.seen).toEqual([1, 2, 3, 4, 5, 6].map(documentAt));
      // full, delta, delta | recovered from history in full; the next in full too (its
      // base is a publication this node fanned out while the client was away), then deltas.
      expect(received.map((r) => r.delta)).toEqual([false, true, true, false, false, true]);
      client.close();
    });
  }

  it('refuses { delta } without the client option', () => {
    const client = connect(srv.wsUrl);
    expect(() => client.subscribe('doc:nooption', () => {}, { delta: 'fossil' })).toThrow(/delta/);
    client.close();
  });
});
