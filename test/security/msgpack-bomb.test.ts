// A few bytes of MessagePack that declare huge arrays, maps or strings are
// refused before the decoder allocates what they declare: the sender gets
// bad_request, the process and its other clients carry on, and /metrics
// counts the bound that was hit.
import { decode, encode } from '@msgpack/msgpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

/**
 * A client on switchboard.v1.msgpack. RawClient waits for a JSON welcome,
 * which this subprotocol sends as MessagePack, so frames are decoded here.
 */
class MsgpackClient {
  private readonly frames: Frame[] = [];
  private waiters: Array<(frame: Frame) => void> = [];
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.on('close', resolve));
    ws.on('error', () => {});
    ws.on('message', (data) => {
      this.frames.push(decode(data as Buffer) as Frame);
      for (const wake of this.waiters.splice(0)) wake(this.frames[this.frames.length - 1]!);
    });
  }

  static async connect(url: string): Promise<MsgpackClient> {
    const client = new MsgpackClient(new WebSocket(url, 'switchboard.v1.msgpack'));
    await client.next((f) => f.type === 'welcome');
    return client;
  }

  /** The first frame not yet taken that matches, waiting for it with a deadline. */
  async next(match: (f: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0]!;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no matching frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame within ${timeoutMs} ms`)), remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  async alive(): Promise<boolean> {
    this.send(encode({ type: 'ping', id: 'alive' }));
    return (await this.next((f) => f.id === 'alive')).type === 'pong';
  }
}

/** `count` nested container headers (head byte + big-endian uint32), each declaring `declared`. */
function nestedHeaders(head: number, count: number, declared: number): Uint8Array {
  const bytes = new Uint8Array(count * 5);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    bytes[i * 5] = head;
    view.setUint32(i * 5 + 1, declared);
  }
  return bytes;
}

/** A length-prefixed str32/bin32 claiming `declared` bytes, followed by a few real ones. */
function claimingBytes(head: number, declared: number): Uint8Array {
  const bytes = new Uint8Array(5 + 16);
  bytes[0] = head;
  new DataView(bytes.buffer).setUint32(1, declared);
  return bytes;
}

/** `levels` nested fixarrays of one element, around an empty one. */
function nestedFixarrays(levels: number): Uint8Array {
  const bytes = new Uint8Array(levels).fill(0x91);
  bytes[levels - 1] = 0x90;
  return bytes;
}

let srv: TestServer;
let bystander: RawClient;

beforeAll(async () => {
  srv = await startServer();
  bystander = await RawClient.connect(srv.wsUrl);
});
afterAll(() => srv.close());

async function limitHits(limit: string): Promise<number> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const match = text.match(new RegExp(`^switchboard_limit_hits_total\\{limit="${limit}"\\} (\\d+)$`, 'm'));
  return match ? Number(match[1]) : 0;
}

const STRUCTURE = /MessagePack structure declares more elements or bytes than the frame's \d+ bytes hold/;

describe('MessagePack frames that declare more than they carry', () => {
  const bombs: Array<[string, Uint8Array]> = [
    ['1,000 nested array32 headers of 1,000,000 (5,000 bytes)', nestedHeaders(0xdd, 1_000, 1_000_000)],
    ['60 nested array32 headers of 10,000,000 (300 bytes)', nestedHeaders(0xdd, 60, 10_000_000)],
    ['1,000 nested map32 headers of 1,000,000', nestedHeaders(0xdf, 1_000, 1_000_000)],
    ['a str32 claiming 4 GB', claimingBytes(0xdb, 0xffffffff)],
    ['a bin32 claiming 4 GB', claimingBytes(0xc6, 0xffffffff)],
    ['an ext32 claiming 4 GB', claimingBytes(0xc9, 0xffffffff)],
  ];

  it.each(bombs)('%s gets bad_request naming the structure; the process and a bystander carry on', async (_name, bomb) => {
    const before = await limitHits('msgpackStructure');
    const rssBefore = process.memoryUsage().rss;
    const client = await MsgpackClient.connect(srv.wsUrl);
    client.send(bomb);
    const error = await client.next((f) => f.type === 'error');
    expect(error.error.code).toBe('bad_request');
    expect(error.error.message).toMatch(STRUCTURE);
    expect(await limitHits('msgpackStructure')).toBe(before + 1);
    expect(await client.alive()).toBe(true);
    expect(await bystander.alive()).toBe(true);
    // Loose: decoding the first bomb reached 4 GB; refusing it allocates next to nothing.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    client.ws.close();
    await client.closed;
  });

  it('answers a bomb inside a frame that carries an id with a reply under that id', async () => {
    const before = await limitHits('msgpackStructure');
    const client = await MsgpackClient.connect(srv.wsUrl);
    // { id: 41, type: 'publish', channel: 'a', payload: <bomb> }: the header says four entries.
    const head = encode({ id: 41, type: 'publish', channel: 'a' });
    expect(head[0]).toBe(0x83);
    const frame = new Uint8Array([0x84, ...head.subarray(1), ...encode('payload'), ...nestedHeaders(0xdd, 1_000, 1_000_000)]);
    client.send(frame);
    const reply = await client.next((f) => f.type === 'reply');
    expect(reply).toMatchObject({ id: 41, ok: false, error: { code: 'bad_request' } });
    expect(reply.error.message).toMatch(STRUCTURE);
    expect(await limitHits('msgpackStructure')).toBe(before + 1);
    expect(await client.alive()).toBe(true);
    client.ws.close();
  });
});

describe('MessagePack nesting', () => {
  it('refuses 65 nested fixarrays as nested deeper than 64, and counts maxDepth', async () => {
    const before = await limitHits('maxDepth');
    const structure = await limitHits('msgpackStructure');
    const client = await MsgpackClient.connect(srv.wsUrl);
    client.send(nestedFixarrays(65));
    const error = await client.next((f) => f.type === 'error');
    expect(error.error).toEqual({ code: 'bad_request', message: 'frame is nested deeper than 64 levels' });
    expect(await limitHits('maxDepth')).toBe(before + 1);
    expect(await limitHits('msgpackStructure')).toBe(structure);
    expect(await client.alive()).toBe(true);
    client.ws.close();
  });

  it('publishes a payload that brings the frame to exactly 64 levels, and refuses one more under its id', async () => {
    const client = await MsgpackClient.connect(srv.wsUrl);
    let payload: unknown = [];
    for (let i = 1; i < 63; i++) payload = [payload]; // 63 levels, inside the frame's map: 64
    client.send(encode({ type: 'publish', id: 1, channel: 'deep', payload }));
    expect(await client.next((f) => f.id === 1)).toMatchObject({ type: 'reply', ok: true });
    client.send(encode({ type: 'publish', id: 2, channel: 'deep', payload: [payload] }));
    const refused = await client.next((f) => f.id === 2);
    expect(refused).toMatchObject({ type: 'reply', ok: false, error: { code: 'bad_request', message: 'frame is nested deeper than 64 levels' } });
    client.ws.close();
  });

  it('counts maxDepth for JSON text nested too deep as well', async () => {
    const before = await limitHits('maxDepth');
    bystander.send(`{"type":"publish","channel":"a","payload":${'['.repeat(65)}${']'.repeat(65)}}`);
    const error = await bystander.next((f) => f.type === 'error');
    expect(error.error.message).toMatch(/nested deeper than 64/);
    expect(await limitHits('maxDepth')).toBe(before + 1);
  });
});
