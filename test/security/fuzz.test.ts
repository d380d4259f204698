// Random and mutated frames against a live server. The server must never
// crash, must answer each frame as the contract says (checked by an oracle
// written from the contract, not from the server's code), and a well-behaved
// subscriber on the same server must keep receiving every publication.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ERROR_CODES } from '../../src/protocol/codes.js';
import { deepJsonArb, mutate, oddValue, requestArb } from '../helpers/hostile-frames.mjs';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const MAX_PAYLOAD = 256 * 1024;
let srv: TestServer;

beforeAll(async () => {
  srv = await startServer({
    limits: { maxPayload: MAX_PAYLOAD, messagesPerSecond: 1_000_000, burst: 1_000_000, bytesPerSecond: 1e9, bytesBurst: 1e9 },
    namespaces: {
      '': { history: { size: 50, ttl: 60_000 } },
      chat: { subscribe: 'authenticated', presence: true, joinLeave: true },
      feed: { publish: 'server' },
    },
  });
});
afterAll(() => srv.close());

// ---- the oracle: is this object a well-formed request, per the contract? ----

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const channelOk = (c: unknown) => typeof c === 'string' && /^[A-Za-z0-9_\-:.@#/]{1,255}$/.test(c);
const sinceOk = (s: unknown) => s === undefined || (isObject(s) && typeof s.epoch === 'string' && Number.isSafeInteger(s.offset) && (s.offset as number) >= 0);
const idOk = (id: unknown) => id === undefined || Number.isSafeInteger(id) || (typeof id === 'string' && id.length <= 64);

function wellFormed(f: Record<string, unknown>): boolean {
  if (!idOk(f.id)) return false;
  switch (f.type) {
    case 'subscribe':
      return channelOk(f.channel) && sinceOk(f.since);
    case 'unsubscribe':
    case 'presence':
      return channelOk(f.channel);
    case 'publish':
      return channelOk(f.channel) && f.payload !== undefined;
    case 'rpc':
      return typeof f.method === 'string' && f.method.length >= 1 && f.method.length <= 255 && f.payload !== undefined;
    case 'history':
      return channelOk(f.channel) && sinceOk(f.since) && (f.limit === undefined || (Number.isSafeInteger(f.limit) && (f.limit as number) > 0));
    case 'refresh':
      return typeof f.token === 'string' && f.token.length > 0;
    case 'ping':
      return true;
    default:
      return false;
  }
}

// ---- generators ----

/** A request with one field replaced by an odd value, or removed (the id is ours, set when sent). */
const mutatedArb = mutate(requestArb, oddValue);
const textArb = fc.oneof(
  { weight: 5, arbitrary: mutatedArb.map((f) => ({ frame: f })) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => ({ text: JSON.stringify(v) })) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map((text) => ({ text })) },
  { weight: 1, arbitrary: deepJsonArb.map((text) => ({ text })) },
);

function checkFrame(frame: Frame): void {
  expect(['welcome', 'reply', 'error', 'pong', 'message', 'join', 'leave']).toContain(frame.type);
  if (frame.type === 'reply') expect(typeof frame.ok).toBe('boolean');
  if (frame.error) expect(ERROR_CODES).toContain(frame.error.code);
}

it('survives 10,000 random and mutated frames while a subscriber keeps receiving', async () => {
  srv.server.rpc('echo', (payload) => payload);
  const watcher = await RawClient.connect(srv.wsUrl);
  await watcher.ok({ type: 'subscribe', channel: 'heartbeat-of-the-test' });
  const fuzzer = await RawClient.connect(srv.wsUrl);

  const samples = fc.sample(textArb, { numRuns: 10_000, seed: 20261125 });
  let nextId = 1;
  let checkedByOracle = 0;
  for (let batch = 0; batch < samples.length; batch += 100) {
    const expectations = new Map<number, boolean>();
    for (const sample of samples.slice(batch, batch + 100)) {
      if ('frame' in sample) {
        // Our own unique id, so the answer can be matched to the frame.
        const id = nextId++;
        const frame = { ...sample.frame, id };
        expectations.set(id, wellFormed(frame));
        fuzzer.send(frame);
      } else {
        fuzzer.send(sample.text);
      }
    }
    for (const [id, ok] of expectations) {
      const answer = await fuzzer.next((f) => f.id === id);
      if (ok) expect(answer.error?.code, JSON.stringify(answer)).not.toBe('bad_request');
      else expect(answer, JSON.stringify(answer)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      checkedByOracle++;
    }
    // The watcher gets every publication made between batches, in order.
    await srv.server.publish('heartbeat-of-the-test', { batch });
    expect((await watcher.next((f) => f.type === 'message' && f.channel === 'heartbeat-of-the-test')).payload).toEqual({ batch });
  }
  expect(await fuzzer.alive()).toBe(true);
  expect(fuzzer.ws.readyState).toBe(WebSocket.OPEN);
  fuzzer.frames.forEach(checkFrame);
  // Bad input is the client's fault: never an internal error.
  expect(fuzzer.frames.filter((f) => f.error?.code === 'internal')).toEqual([]);
  expect(checkedByOracle).toBeGreaterThan(4_000);
  await Promise.all([watcher.close(), fuzzer.close()]);
}, 120_000);

it('closes with 1007 on invalid UTF-8 and 1009 over maxPayload, every time', async () => {
  const invalid = fc.sample(
    fc.uint8Array({ minLength: 1, maxLength: 64 }).filter((bytes) => {
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        return false;
      } catch {
        return true;
      }
    }),
    { numRuns: 40, seed: 7 },
  );
  const watcher = await RawClient.connect(srv.wsUrl);
  await watcher.ok({ type: 'subscribe', channel: 'still-here' });
  for (const bytes of invalid) {
    const client = await RawClient.connect(srv.wsUrl);
    client.ws.send(Buffer.from(bytes), { binary: false });
    expect((await client.closed).code).toBe(1007);
  }
  for (const size of [MAX_PAYLOAD + 1, MAX_PAYLOAD * 2]) {
    const client = await RawClient.connect(srv.wsUrl);
    client.send('x'.repeat(size));
    expect((await client.closed).code).toBe(1009);
  }
  await srv.server.publish('still-here', 'yes');
  expect((await watcher.next((f) => f.type === 'message')).payload).toBe('yes');
  await watcher.close();
});
