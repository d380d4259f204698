// Every bad frame the contract names gets the error it names, the connection
// stays open where the contract says so, and other clients are unaffected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let bystander: RawClient;
let publisher: RawClient;

beforeAll(async () => {
  srv = await startServer({
    limits: { maxPayload: 4096 },
    namespaces: {
      '': { subscribe: 'anyone', publish: 'anyone', history: { size: 100, ttl: 60_000 } },
      feed: { subscribe: 'anyone', publish: 'server' },
      room: { subscribe: 'anyone', publish: 'subscribers' },
    },
  });
  bystander = await RawClient.connect(srv.wsUrl);
  await bystander.ok({ type: 'subscribe', channel: 'watch' });
  publisher = await RawClient.connect(srv.wsUrl);
});
afterAll(() => srv.close());

/** After each bad input, the bystander still gets a fresh publication. */
async function bystanderStillReceives(marker: string): Promise<void> {
  await publisher.ok({ type: 'publish', channel: 'watch', payload: marker });
  await bystander.next((f) => f.type === 'message' && f.payload === marker);
}

const badFrames: Array<[string, string, RegExp]> = [
  ['invalid JSON', '{"type":', /not valid JSON/],
  ['a JSON array', '[1,2,3]', /must be a JSON object/],
  ['a JSON string', '"subscribe"', /must be a JSON object/],
  ['null', 'null', /must be a JSON object/],
  ['no type', '{"channel":"a"}', /type must be a string/],
  ['a numeric type', '{"type":7}', /type must be a string/],
  ['an unknown type', '{"type":"launch"}', /unknown type "launch"/],
  ['subscribe without channel', '{"type":"subscribe"}', /channel/],
  ['subscribe with a numeric channel', '{"type":"subscribe","channel":5}', /channel/],
  ['a channel with a space', '{"type":"subscribe","channel":"a b"}', /channel names are/],
  ['a 256-character channel', JSON.stringify({ type: 'subscribe', channel: 'x'.repeat(256) }), /channel names are/],
  ['publish without payload', '{"type":"publish","channel":"a"}', /payload/],
  ['since with a negative offset', '{"type":"subscribe","channel":"a","since":{"epoch":"e","offset":-1}}', /since/],
  ['since without epoch', '{"type":"subscribe","channel":"a","since":{"offset":1}}', /since/],
  ['history with limit 0', '{"type":"history","channel":"a","limit":0}', /limit/],
  ['rpc without method', '{"type":"rpc","payload":{}}', /method/],
  ['refresh with a numeric token', '{"type":"refresh","token":1}', /token/],
  ['a float id', '{"type":"ping","id":1.5}', /id must be/],
  ['a payload nested 65 deep', `{"type":"publish","channel":"a","payload":${'['.repeat(65)}${']'.repeat(65)}}`, /nested deeper than 64/],
  ['an id of 65 characters', JSON.stringify({ type: 'ping', id: 'i'.repeat(65) }), /id must be/],
];

describe('malformed frames', () => {
  it.each(badFrames)('%s gets bad_request and the connection stays open', async (_name, text, message) => {
    const client = await RawClient.connect(srv.wsUrl);
    client.send(text);
    const error = await client.next((f) => f.type === 'error');
    expect(error.error.code).toBe('bad_request');
    expect(error.error.message).toMatch(message);
    expect(await client.alive()).toBe(true);
    await bystanderStillReceives(`after ${_name}`);
    await client.close();
  });

  it('answers an ill-typed request that has an id with a reply carrying that id', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.request({ type: 'subscribe', channel: 42 });
    expect(reply).toMatchObject({ type: 'reply', ok: false, error: { code: 'bad_request' } });
    const unknown = await client.request({ type: 'teleport' });
    expect(unknown).toMatchObject({ type: 'reply', ok: false, error: { code: 'bad_request' } });
    await client.close();
  });

  it('answers an unknown type with a string id by a reply carrying that id', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    client.send({ type: 'nope', id: 'abc' });
    const reply = await client.next((f) => f.id === 'abc');
    expect(reply).toMatchObject({ type: 'reply', ok: false, error: { code: 'bad_request' } });
    await client.close();
  });

  it('ignores unknown fields', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const result = await client.ok({ type: 'subscribe', channel: 'extra', colour: 'blue' });
    expect(result.channel).toBe('extra');
    await client.close();
  });
});

describe('refused requests', () => {
  it('an unknown namespace is not_found', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.request({ type: 'subscribe', channel: 'nowhere:x' });
    expect(reply.error.code).toBe('not_found');
    const pub = await client.request({ type: 'publish', channel: 'nowhere:x', payload: 1 });
    expect(pub.error.code).toBe('not_found');
    expect(await client.alive()).toBe(true);
    await client.close();
  });

  it('publishing on a server-only namespace is forbidden', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.request({ type: 'publish', channel: 'feed:news', payload: 'hi' });
    expect(reply.error.code).toBe('forbidden');
    await bystanderStillReceives('after forbidden publish');
    await client.close();
  });

  it('publishing on a subscribers-only namespace needs a subscription', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const before = await client.request({ type: 'publish', channel: 'room:1', payload: 'hi' });
    expect(before.error.code).toBe('forbidden');
    await client.ok({ type: 'subscribe', channel: 'room:1' });
    expect(await client.ok({ type: 'publish', channel: 'room:1', payload: 'hi' })).toEqual({ offset: null });
    await client.close();
  });

  it('a fire-and-forget failure comes back as an error frame', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    client.send({ type: 'publish', channel: 'feed:news', payload: 'hi' });
    const error = await client.next((f) => f.type === 'error');
    expect(error).toEqual({ type: 'error', error: { code: 'forbidden', message: expect.any(String) } });
    await client.close();
  });

  it('subscribing twice is already_subscribed, unsubscribing twice not_subscribed', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'twice' });
    expect((await client.request({ type: 'subscribe', channel: 'twice' })).error.code).toBe('already_subscribed');
    await client.ok({ type: 'unsubscribe', channel: 'twice' });
    expect((await client.request({ type: 'unsubscribe', channel: 'twice' })).error.code).toBe('not_subscribed');
    await client.close();
  });
});

describe('frames that close the connection', () => {
  it('a frame over maxPayload closes with 1009', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    client.send({ type: 'publish', channel: 'watch', payload: 'x'.repeat(5000) });
    expect((await client.closed).code).toBe(1009);
    await bystanderStillReceives('after oversize');
  });

  it('a binary frame on the JSON subprotocol closes with 1003', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    client.ws.send(Buffer.from([1, 2, 3]));
    expect((await client.closed).code).toBe(1003);
    await bystanderStillReceives('after binary');
  });

  it('invalid UTF-8 in a text frame closes with 1007', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    // ws validates outgoing text only when asked; send the raw bytes as a text frame.
    client.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await client.closed).code).toBe(1007);
    await bystanderStillReceives('after invalid utf-8');
  });
});

describe('nesting', () => {
  it('accepts a payload nested 63 deep, brackets inside strings not counted', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    await client.ok({ type: 'subscribe', channel: 'deep' });
    const text = `{"type":"publish","id":1,"channel":"deep","payload":[${'['.repeat(62)}"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"["${']'.repeat(62)}]}`;
    client.send(text);
    expect((await client.next((f) => f.id === 1)).ok).toBe(true);
    await client.next((f) => f.type === 'message');
    await client.close();
  });
});
