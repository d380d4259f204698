// switchboard.v1.msgpack: binary payloads arrive as the same bytes, and the
// server refuses text frames on it.
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../../src/client/node.js';
import { msgpack } from '../../src/client/msgpack.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer();
});
afterAll(() => srv.close());

it('carries a Float64Array and raw bytes between two clients unchanged', async () => {
  const receiver = connect(srv.wsUrl, { codec: msgpack });
  const sender = connect(srv.wsUrl, { codec: msgpack });
  let deliver!: (payload: any) => void;
  const received = new Promise<any>((resolve) => (deliver = resolve));
  const subscription = receiver.subscribe('samples', (payload) => deliver(payload));
  const samples = new Float64Array([Math.PI, -0, 1e-300, Number.MAX_VALUE]);
  const raw = new Uint8Array(256).map((_, i) => i);
  await subscription.ready;
  await sender.publish('samples', { f64: new Uint8Array(samples.buffer), raw, note: 'bytes' });
  const payload = await received;
  expect(payload.note).toBe('bytes');
  expect(payload.raw).toBeInstanceOf(Uint8Array);
  expect([...payload.raw]).toEqual([...raw]);
  const back = new Float64Array(payload.f64.slice().buffer);
  expect([...back]).toEqual([...samples]);
  expect(Object.is(back[1], -0)).toBe(true);
  receiver.close();
  sender.close();
});

it('closes with 1003 on a text frame on the MessagePack subprotocol', async () => {
  const ws = new WebSocket(srv.wsUrl, 'switchboard.v1.msgpack');
  await new Promise((resolve) => ws.on('message', resolve)); // the binary welcome
  expect(ws.protocol).toBe('switchboard.v1.msgpack');
  ws.send('{"type":"ping"}');
  const code = await new Promise((resolve) => ws.on('close', resolve));
  expect(code).toBe(1003);
});

it('answers an undecodable binary frame with bad_request, and keeps the connection', async () => {
  const ws = new WebSocket(srv.wsUrl, 'switchboard.v1.msgpack');
  const frames: unknown[] = [];
  const { decode, encode } = await import('@msgpack/msgpack');
  const next = () => new Promise<any>((resolve) => ws.once('message', (data) => resolve(decode(data as Buffer))));
  await next();
  ws.send(Buffer.from([0xc1])); // never used in MessagePack
  frames.push(await next());
  expect(frames[0]).toMatchObject({ type: 'error', error: { code: 'bad_request' } });
  ws.send(encode({ type: 'ping', id: 9 }));
  expect(await next()).toEqual({ type: 'pong', id: 9 });
  ws.close();
});
