// The ws adapter's direct writes (src/server/ws-transport.ts): a publication is
// framed once, and a turn's frames are held per socket and written at the end
// of the turn, as one buffer shared by the subscribers that received the same
// ones. These are its edge cases, over real sockets: a close or terminate in
// the same turn as a burst, a slow consumer cut mid-burst, subscribers whose
// frames of a turn differ, an own frame or a ping between shared ones,
// permessage-deflate (where frames go through ws instead), JSON and
// MessagePack subscribers on one channel, and frame lengths on both sides of
// each length encoding. And that the direct path is taken at all: it rests on
// ws's private `_socket`, which is why package.json pins ws to a patch range
// (~8.23.0); the first test below fails if a ws release moves it.
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SUBPROTOCOL_MSGPACK } from '../../src/protocol/frames.js';
import { msgpackCodec } from '../../src/protocol/msgpack.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionOf } from '../helpers/sessions.js';

const LIMIT = 256 * 1024;
const history = { size: 1_000, ttl: 600_000 };

let srv: TestServer;
let deflating: TestServer;
beforeAll(async () => {
  [srv, deflating] = await Promise.all([
    startServer({ limits: { outboundBufferBytes: LIMIT }, namespaces: { '': { history } } }),
    startServer({ compression: true, namespaces: { '': { history } } }),
  ]);
});
afterAll(() => Promise.all([srv.close(), deflating.close()]));

/** Publish `count` payloads in this very turn: the memory broker fans out synchronously. */
function burst(server: TestServer, channel: string, count: number, payload: (i: number) => unknown): void {
  for (let i = 0; i < count; i++) void server.server.operations.publish(channel, payload(i));
}

function session(server: TestServer, client: RawClient) {
  return sessionOf(server.server, client.welcome.payload.client);
}

/** Wait until `client` holds `count` messages of `channel`, or fail after the deadline. */
async function messagesOf(client: RawClient, channel: string, count: number) {
  await client.next((f) => f.type === 'message' && f.channel === channel && client.messages(channel).length >= count);
  return client.messages(channel);
}

/** A client and a witness, both subscribed to `channel`. */
async function pairOn(channel: string): Promise<[RawClient, RawClient]> {
  const client = await RawClient.connect(srv.wsUrl);
  const witness = await RawClient.connect(srv.wsUrl);
  await client.ok({ type: 'subscribe', channel });
  await witness.ok({ type: 'subscribe', channel });
  return [client, witness];
}

/** The server side of `client`: the ws WebSocket, and the TCP socket its transport writes to. */
function serverSide(server: TestServer, client: RawClient) {
  const transport = (session(server, client) as unknown as { transport: { socket: WebSocket; tcp: unknown } }).transport;
  let viaWs = 0;
  const send = transport.socket.send.bind(transport.socket);
  transport.socket.send = ((...args: Parameters<typeof send>) => (viaWs++, send(...args))) as typeof send;
  return { socket: transport.socket, tcp: transport.tcp, sentThroughWs: () => viaWs };
}

describe('the direct path (ws pinned to ~8.23.0 in package.json for it)', () => {
  it("without permessage-deflate, frames go straight to the TCP socket ws keeps in its private _socket, never through ws's send", async () => {
    const client = await RawClient.connect(srv.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'direct' });
    const side = serverSide(srv, client);
    // What ws-transport.ts reads: a ws release that renames or drops _socket fails here first.
    expect((side.socket as unknown as { _socket: unknown })._socket).toBeInstanceOf(Socket);
    expect(side.tcp).toBe((side.socket as unknown as { _socket: unknown })._socket);
    // Publications, a reply and a pong: all of them around ws.
    burst(srv, 'direct', 5, (i) => i);
    expect((await messagesOf(client, 'direct', 5)).map((m) => m.payload)).toEqual([0, 1, 2, 3, 4]);
    await client.ok({ type: 'subscribe', channel: 'direct-2' });
    client.send({ type: 'ping', id: 'p' });
    expect(await client.next((f) => f.type === 'pong')).toEqual({ type: 'pong', id: 'p' });
    expect(side.sentThroughWs()).toBe(0);
    await client.close();
  });

  it('with permessage-deflate, the same frames go through ws (the spy above sees them)', async () => {
    const client = await RawClient.connect(deflating.wsUrl);
    expect(client.ws.extensions).toContain('permessage-deflate');
    await client.ok({ type: 'subscribe', channel: 'via-ws' });
    const side = serverSide(deflating, client);
    burst(deflating, 'via-ws', 5, (i) => i);
    expect((await messagesOf(client, 'via-ws', 5)).map((m) => m.payload)).toEqual([0, 1, 2, 3, 4]);
    expect(side.sentThroughWs()).toBe(5);
    await client.close();
  });
});

describe('a close in the same turn as a burst', () => {
  it('close: the burst arrives whole, then the close frame with its code', async () => {
    const [client, witness] = await pairOn('cl');
    burst(srv, 'cl', 50, (i) => i);
    session(srv, client).close(4003, 'bye');
    expect(await client.closed).toEqual({ code: 4003, reason: 'bye' });
    expect(client.messages('cl').map((m) => m.payload)).toEqual([...Array(50).keys()]);
    // The same shared frames reached the other subscriber, and it is still served.
    expect((await messagesOf(witness, 'cl', 50)).map((m) => m.offset)).toEqual([...Array(50).keys()].map((i) => i + 1));
    burst(srv, 'cl', 1, () => 'after');
    expect((await messagesOf(witness, 'cl', 51))[50]!.payload).toBe('after');
    await witness.close();
  });

  it('terminate: the socket goes without its queue, the others are unaffected', async () => {
    const [client, witness] = await pairOn('tm');
    burst(srv, 'tm', 50, (i) => i);
    session(srv, client).terminate('test');
    // Corked until the end of the turn, so nothing of the burst left before the socket was destroyed.
    expect((await client.closed).code).toBe(1006);
    expect(client.messages('tm')).toEqual([]);
    burst(srv, 'tm', 1, () => 'after');
    expect((await messagesOf(witness, 'tm', 51)).map((m) => m.payload)).toEqual([...[...Array(50).keys()], 'after']);
    expect(await witness.alive()).toBe(true);
    await witness.close();
  });
});

it('a slow consumer is cut mid-burst with 4008 before its queue passes the limit, and nothing is queued after', async () => {
  const slow = await RawClient.connect(srv.wsUrl);
  await slow.ok({ type: 'subscribe', channel: 'sc' });
  const framesOut = () => srv.server.operations.telemetry.traffic.framesOut;
  const before = framesOut();
  const payload = 'p'.repeat(10_000);
  // The whole burst is 4x the limit and is queued in one turn, while the socket is corked.
  burst(srv, 'sc', Math.ceil((4 * LIMIT) / payload.length), () => payload);
  const queued = framesOut() - before;
  expect(session(srv, slow).closed).toBe(true);
  expect(queued * payload.length).toBeLessThanOrEqual(LIMIT);
  expect((queued + 1) * payload.length).toBeGreaterThan(LIMIT - 1_000);
  // Later publications queue nothing for it either.
  burst(srv, 'sc', 5, () => payload);
  expect(framesOut() - before).toBe(queued);
  expect(await slow.closed).toEqual({ code: 4008, reason: 'outbound buffer over its limit' });
  // What was queued before the cut arrived, in order, before the close frame.
  expect(slow.messages('sc').map((m) => m.offset)).toEqual([...Array(queued).keys()].map((i) => i + 1));
});

describe("a turn's shared frames, held per socket and written at the end of the turn", () => {
  it('subscribers that received the same frames share one write; one that received more gets its own, all in order', async () => {
    const connect = () => RawClient.connect(srv.wsUrl);
    const [a, b, c, d] = await Promise.all([connect(), connect(), connect(), connect()]);
    for (const client of [a, b, c, d]) await client.ok({ type: 'subscribe', channel: 'run-x' });
    await a.ok({ type: 'subscribe', channel: 'run-y' });
    await c.ok({ type: 'subscribe', channel: 'run-z' });
    // One turn: x to all four, then y to a only, then x again, then z to c only (b and d share their write).
    burst(srv, 'run-x', 20, (i) => `x${i}`);
    burst(srv, 'run-y', 3, (i) => `y${i}`);
    burst(srv, 'run-x', 5, (i) => `x${20 + i}`);
    burst(srv, 'run-z', 2, (i) => `z${i}`);
    const xs = [...Array(25).keys()].map((i) => `x${i}`);
    const ys = ['y0', 'y1', 'y2'];
    const zs = ['z0', 'z1'];
    await Promise.all([
      messagesOf(a, 'run-x', 25),
      messagesOf(a, 'run-y', 3),
      messagesOf(b, 'run-x', 25),
      messagesOf(c, 'run-z', 2),
      messagesOf(d, 'run-x', 25),
    ]);
    const payloads = (client: RawClient) => client.messages().map((m) => m.payload);
    expect(payloads(a)).toEqual([...xs.slice(0, 20), ...ys, ...xs.slice(20)]);
    expect(payloads(b)).toEqual(xs);
    expect(payloads(d)).toEqual(xs);
    expect(payloads(c)).toEqual([...xs, ...zs]);
    expect(b.messages('run-x').map((m) => m.offset)).toEqual([...Array(25).keys()].map((i) => i + 1));
    await Promise.all([a.close(), b.close(), c.close(), d.close()]);
  });

  it("a connection's own frame sent mid-turn goes after the shared frames before it and before those after it", async () => {
    const [client, witness] = await pairOn('own');
    burst(srv, 'own', 4, (i) => i);
    session(srv, client).send({ type: 'error', error: { code: 'internal', message: 'between' } });
    burst(srv, 'own', 4, (i) => 4 + i);
    await messagesOf(client, 'own', 8);
    const order = client.frames.filter((f) => f.type === 'message' || f.type === 'error').map((f) => (f.type === 'error' ? 'own' : f.payload));
    expect(order).toEqual([0, 1, 2, 3, 'own', 4, 5, 6, 7]);
    expect((await messagesOf(witness, 'own', 8)).map((m) => m.payload)).toEqual([...Array(8).keys()]);
    await Promise.all([client.close(), witness.close()]);
  });

  it('a heartbeat ping mid-turn leaves the frames intact and the connection alive', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'hb' });
    burst(srv, 'hb', 10, (i) => i);
    session(srv, client).ping(Date.now());
    burst(srv, 'hb', 10, (i) => 10 + i);
    expect((await messagesOf(client, 'hb', 20)).map((m) => m.payload)).toEqual([...Array(20).keys()]);
    expect(await client.alive()).toBe(true);
    await client.close();
  });
});

describe('permessage-deflate negotiated', () => {
  it('frames go through ws, compressed or not, in order, next to a subscriber without it', async () => {
    const compressed = await RawClient.connect(deflating.wsUrl);
    const plain = await RawClient.connect(deflating.wsUrl, { perMessageDeflate: false });
    expect(compressed.ws.extensions).toContain('permessage-deflate');
    expect(plain.ws.extensions).toBe('');
    await compressed.ok({ type: 'subscribe', channel: 'df' });
    await plain.ok({ type: 'subscribe', channel: 'df' });
    // Big payloads are deflated asynchronously and small ones not at all (threshold 1 KiB):
    // a small frame written around ws would overtake the big one before it.
    const payload = (i: number) => (i % 2 === 0 ? `${i}`.padEnd(20_000, 'z') : i);
    burst(deflating, 'df', 40, payload);
    compressed.send({ type: 'ping', id: 'p' });
    const pong = compressed.next((f) => f.type === 'pong');
    const expected = [...Array(40).keys()].map(payload);
    expect((await messagesOf(compressed, 'df', 40)).map((m) => m.payload)).toEqual(expected);
    expect((await messagesOf(plain, 'df', 40)).map((m) => m.payload)).toEqual(expected);
    expect(await pong).toEqual({ type: 'pong', id: 'p' });
    // And they were compressed: 20 payloads of 20,000 bytes took far fewer bytes on the wire.
    const read = (client: RawClient) => (client.ws as unknown as { _socket: { bytesRead: number } })._socket.bytesRead;
    expect(read(compressed)).toBeLessThan(100_000);
    expect(read(plain)).toBeGreaterThan(400_000);
    await Promise.all([compressed.close(), plain.close()]);
  });
});

it('JSON and MessagePack subscribers of one channel each get their own encoding', async () => {
  const json = await RawClient.connect(srv.wsUrl);
  await json.ok({ type: 'subscribe', channel: 'mixed' });
  const binary = new WebSocket(srv.wsUrl, SUBPROTOCOL_MSGPACK);
  const received: any[] = [];
  const frames = new Map<string, (frame: any) => void>();
  binary.on('message', (data, isBinary) => {
    expect(isBinary).toBe(true);
    const frame = msgpackCodec.decode(data as Buffer) as any;
    received.push(frame);
    frames.get(frame.type)?.(frame);
  });
  const frameOf = (type: string) => new Promise<any>((resolve) => frames.set(type, resolve));
  await frameOf('welcome');
  const subscribed = frameOf('reply');
  binary.send(msgpackCodec.encode({ type: 'subscribe', channel: 'mixed', id: 1 }));
  await subscribed;
  const payloads = [{ n: 1 }, 'two', [3, 'three']];
  const allThree = new Promise<void>((resolve) => frames.set('message', () => received.filter((f) => f.type === 'message').length === 3 && resolve()));
  burst(srv, 'mixed', 3, (i) => payloads[i]);
  await allThree;
  const viaMsgpack = received.filter((f) => f.type === 'message').map(({ offset, payload }) => ({ offset, payload }));
  const viaJson = (await messagesOf(json, 'mixed', 3)).map(({ offset, payload }) => ({ offset, payload }));
  expect(viaMsgpack).toEqual(payloads.map((payload, i) => ({ offset: i + 1, payload })));
  expect(viaJson).toEqual(viaMsgpack);
  binary.close();
  await json.close();
});

it('frames on both sides of the 7-bit, 16-bit and 64-bit length encodings arrive intact', async () => {
  const client = await RawClient.connect(srv.wsUrl);
  await client.ok({ type: 'subscribe', channel: 'len' });
  const overhead = JSON.stringify({ type: 'message', channel: 'len', offset: 1, payload: '' }).length;
  // Sizes of the whole frame's payload: 125 | 126, 65,535 | 65,536.
  const sizes = [124, 125, 126, 127, 65_535, 65_536, 65_537];
  const payloads = sizes.map((size) => 'a'.repeat(size - overhead));
  burst(srv, 'len', payloads.length, (i) => payloads[i]);
  const messages = await messagesOf(client, 'len', payloads.length);
  expect(messages.map((m) => m.payload.length)).toEqual(payloads.map((p) => p.length));
  await client.close();
});
