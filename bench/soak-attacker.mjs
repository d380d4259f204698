// A child process of bench/soak.mjs: attacker connections sending random,
// mutated and lying frames (JSON and MessagePack), and random HTTP requests
// over raw TCP. The generators widen those of test/security/fuzz.test.ts.
// Progress goes to the parent over IPC once a second.
import net from 'node:net';
import { encode, decode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { channelArb, deepJsonArb as deepJson, mutate, oddValue, requestArb } from '../test/helpers/hostile-frames.mjs';
import WebSocket from 'ws';

const opts = JSON.parse(process.argv[2]);
const { wsUrl, port, apiKey, connections, wsFrames, httpRequests, seed, maxPayload } = opts;
const BATCH = 200;

const stats = {
  wsFrames: 0,
  httpRequests: 0,
  opened: 0,
  openFailures: {},
  closes: {},
  syncTimeouts: 0,
  syncMaxMs: 0,
  replies: 0,
  httpAnswers: {},
  byKind: {},
};
let stopping = false;
const bump = (obj, key, n = 1) => (obj[key] = (obj[key] ?? 0) + n);
process.on('message', (m) => m.type === 'stop' && (stopping = true));
process.on('disconnect', () => process.exit(0));
const report = () => process.connected && process.send({ type: 'progress', stats });
setInterval(report, 1000).unref();

// ------------------------------------------------------------ JSON (the fuzz test's generators)

const textArb = fc.oneof(
  { weight: 5, arbitrary: mutate(requestArb, oddValue).map((f) => ({ kind: 'json-request', text: JSON.stringify(f) })) },
  { weight: 2, arbitrary: fc.jsonValue().map((v) => ({ kind: 'json-value', text: JSON.stringify(v) })) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }).map((text) => ({ kind: 'json-garbage', text })) },
  { weight: 1, arbitrary: deepJson.map((text) => ({ kind: 'json-deep', text })) },
);

// -------------------------------------------------------------- MessagePack

const bytesArb = fc.uint8Array({ maxLength: 512 });
/** Values MessagePack has and JSON has not: bin, and integers past 2^53. */
const packValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 2 }),
    bytesArb,
    fc.constantFrom(2 ** 64 - 1, -(2 ** 63), Number.NaN, Infinity, 1e308, null, true),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 5 }),
  ),
})).value;
const packOdd = fc.oneof(oddValue, packValue);
const packRequest = mutate(
  requestArb.map((f) => ({ ...f })),
  packOdd,
).chain((f) => fc.option(packValue).map((p) => (p === null ? f : { ...f, payload: p })));

const u32 = (n) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const u16 = (n) => [(n >>> 8) & 255, n & 255];
// Past 2^27 V8 makes a sparse array; below it, `new Array(n)` allocates n slots at once.
const hugeCount = fc.oneof(
  fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000000, 0x07ffffff, 0x01000000, 0x00100000, 65_536),
  fc.integer({ min: 0, max: 0xffffffff }),
);
/** A header that declares more than follows it. */
const lyingHeader = fc.oneof(
  hugeCount.map((n) => [0xdd, ...u32(n)]), // array32
  hugeCount.map((n) => [0xdf, ...u32(n)]), // map32
  hugeCount.map((n) => [0xdb, ...u32(n)]), // str32
  hugeCount.map((n) => [0xc6, ...u32(n)]), // bin32
  hugeCount.map((n) => [0xc9, ...u32(n), 0x01]), // ext32
  fc.integer({ min: 1000, max: 0xffff }).map((n) => [0xdc, ...u16(n)]), // array16
  fc.integer({ min: 1000, max: 0xffff }).map((n) => [0xde, ...u16(n)]), // map16
  fc.integer({ min: 100, max: 255 }).map((n) => [0xd9, n]), // str8
  fc.constantFrom([0xd4, 0xff, 0x00], [0xd8, 0xff, ...new Array(16).fill(0xff)], [0xc7, 0x05, 0xff, 1, 2, 3, 4, 5], [0xc1]), // odd timestamps, reserved byte
);
/** A valid map prefix for a publish, so the lie lands inside the payload. */
const publishPrefix = [...encode({ type: 'publish', channel: 'a' }).subarray(0)];
publishPrefix[0] += 1; // fixmap of 2 -> 3 entries; the third key follows
const payloadKey = [...encode('payload')];
const lyingFrame = fc
  .tuple(fc.boolean(), fc.array(lyingHeader, { minLength: 1, maxLength: 50 }), fc.uint8Array({ maxLength: 64 }))
  .map(([inPublish, headers, tail]) => Uint8Array.from([...(inPublish ? [...publishPrefix, ...payloadKey] : []), ...headers.flat(), ...tail]));
const deepPack = fc.integer({ min: 60, max: 200_000 }).map((d) => {
  const bytes = new Uint8Array(d + 1).fill(0x91); // fixarray of one, d times
  bytes[d] = 0xc0;
  return bytes;
});
const nestedArrays = fc.letrec((tie) => ({ node: fc.oneof({ depthSize: 'large' }, fc.constant(0), fc.array(tie('node'), { maxLength: 3 })) })).node;
const binaryArb = fc.oneof(
  { weight: 5, arbitrary: packRequest.map((f) => ({ kind: 'pack-request', bytes: encode(f) })) },
  { weight: 2, arbitrary: fc.dictionary(fc.string({ maxLength: 20 }), packValue, { maxKeys: 10 }).map((m) => ({ kind: 'pack-map', bytes: encode(m) })) },
  { weight: 1, arbitrary: nestedArrays.map((n) => ({ kind: 'pack-nested', bytes: encode({ type: 'publish', channel: 'a', payload: n }) })) },
  { weight: 2, arbitrary: bytesArb.map((bytes) => ({ kind: 'pack-bytes', bytes })) },
  { weight: 2, arbitrary: lyingFrame.map((bytes) => ({ kind: 'pack-lying', bytes })) },
  { weight: 1, arbitrary: deepPack.map((bytes) => ({ kind: 'pack-deep', bytes })) },
  {
    weight: 1,
    arbitrary: fc.tuple(packRequest, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(([f, cut, extra]) => {
      const bytes = encode(f);
      // Truncated, or followed by bytes that are not part of it.
      return { kind: 'pack-cut', bytes: cut % 2 ? bytes.subarray(0, cut % bytes.length) : Uint8Array.from([...bytes, ...extra]) };
    }),
  },
);

/** Inputs that end the connection by design; rare, as each costs a reconnect. */
const closingArb = fc.oneof(
  fc.constant({ kind: 'close-oversize', bytes: new Uint8Array(maxPayload + 1) }),
  fc.constant({ kind: 'close-wrong-type' }),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => ({ kind: 'close-bad-utf8', badText: Uint8Array.from([0xff, ...b]) })),
);

// -------------------------------------------------------------------- HTTP

const paths = [
  '/api/publish',
  '/api/broadcast',
  '/api/disconnect',
  '/api/presence',
  '/api/history',
  '/api/stats',
  '/api/',
  '/api',
  '/api/x',
  '/api/../api/stats',
  '//api/stats',
  '/api/publish/',
  '/API/publish',
  '/healthz',
  '/readyz',
  '/metrics',
  '/ws',
  '/',
  '/switchboard.js',
  '/nope',
];
const queryArb = fc.oneof(
  fc.constant(''),
  channelArb.map((c) => `?channel=${encodeURIComponent(c)}`),
  fc
    .tuple(channelArb, fc.oneof(fc.integer({ min: -10, max: 1e9 }).map(String), fc.constantFrom('abc', '1e309', '', '0x10', '-0', '1.5')))
    .map(([c, l]) => `?channel=${encodeURIComponent(c)}&limit=${l}`),
  fc.string({ maxLength: 100 }).map((s) => `?${s}`),
  fc.constant('?channel=a&channel=b&limit=1&limit=2'),
);
const targetArb = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...paths), queryArb).map(([p, q]) => p + q) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '*',
      'http://127.0.0.1/api/stats',
      'http://[::1',
      '/%zz',
      '/%',
      '/api/%00',
      '/\u00e9\u00e8',
      'api/stats',
      '',
      '/a b',
      '/\r',
      '/\t',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 2_000, max: 20_000 }).map((n) => `/api/history?channel=${'a'.repeat(n)}`) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `/${s}`) },
);
const bodyFor = fc.oneof(
  fc.constant(''),
  fc.record({ channel: channelArb, payload: fc.jsonValue({ maxDepth: 3 }) }).map((b) => JSON.stringify(b)),
  fc.record({ channels: fc.array(channelArb, { maxLength: 5 }), payload: fc.jsonValue({ maxDepth: 2 }) }).map((b) => JSON.stringify(b)),
  fc.record({ user: fc.string(), client: fc.string(), code: fc.integer(), reason: fc.string() }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 300 }),
  deepJson,
);
/** Bodies past maxPayload, made only when sent: a chunk of 500 samples would hold them all. */
const bodyArb = fc.oneof({ weight: 30, arbitrary: bodyFor }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((k) => ({ oversize: k })) });
const httpArb = fc
  .record({
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
      { weight: 1, arbitrary: fc.constantFrom('CONNECT', 'TRACE', 'get', 'P0ST', 'GET GET', '', 'BREW') },
      { weight: 1, arbitrary: fc.stringMatching(/^[A-Z!#$%&'*+.^_`|~-]{1,12}$/) },
    ),
    target: targetArb,
    version: fc.oneof(
      { weight: 9, arbitrary: fc.constant(' HTTP/1.1') },
      { weight: 1, arbitrary: fc.constantFrom(' HTTP/1.0', ' HTTP/2.0', ' HTTP/9.9', '', ' HTTP/1.1 x', ' http/1.1') },
    ),
    auth: fc.oneof(
      fc.constant(`apikey ${apiKey}`),
      fc.constantFrom('', 'apikey', 'apikey ', `Apikey  ${apiKey}  `, `Bearer ${apiKey}`, 'apikey wrong'),
      fc.string({ maxLength: 100 }),
    ),
    contentType: fc.constantFrom('application/json', 'text/plain', '', 'application/json; charset=latin1', 'multipart/form-data; boundary=x'),
    body: bodyArb,
    framing: fc.constantFrom('length', 'length', 'length', 'short', 'long', 'chunked', 'bad-chunked', 'both', 'none'),
    extra: fc.array(
      fc.oneof(
        fc.tuple(fc.stringMatching(/^[A-Za-z-]{1,20}$/), fc.string({ maxLength: 100 })).map(([k, v]) => `${k}: ${v}`),
        fc.constantFrom(
          'no-colon-header',
          ' folded: continuation',
          'Host: a',
          'Host: b',
          'X-Big: ' + 'y'.repeat(20_000),
          'Content-Length: 5',
          'Expect: 100-continue',
          'Upgrade: websocket',
          'Connection: upgrade',
        ),
      ),
      { maxLength: 4 },
    ),
  })
  .map((r) => {
    const text = typeof r.body === 'string' ? r.body : null;
    const body = text === null ? null : Buffer.from(text, /[^\x00-\xff]/.test(text) ? 'utf8' : 'latin1');
    return { ...r, body, oversize: text === null ? r.body.oversize : 0 };
  });

function httpBytes(r) {
  const body = r.body ?? Buffer.from(`{"channel":"a","payload":"${'x'.repeat(maxPayload * r.oversize)}"}`);
  const head = [`${r.method} ${r.target}${r.version}`, 'Host: 127.0.0.1', 'Connection: close'];
  if (r.auth) head.push(`Authorization: ${r.auth}`);
  if (r.contentType) head.push(`Content-Type: ${r.contentType}`);
  let payload = body;
  if (r.framing === 'length') head.push(`Content-Length: ${body.length}`);
  if (r.framing === 'short') head.push(`Content-Length: ${Math.floor(body.length / 2)}`);
  if (r.framing === 'long') head.push(`Content-Length: ${body.length + 100}`); // the server waits for bytes that never come
  if (r.framing === 'chunked' || r.framing === 'both') {
    head.push('Transfer-Encoding: chunked');
    if (r.framing === 'both') head.push(`Content-Length: ${body.length}`);
    payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  }
  if (r.framing === 'bad-chunked') {
    head.push('Transfer-Encoding: chunked');
    payload = Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n')]);
  }
  head.push(...r.extra);
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), payload]);
}

// ----------------------------------------------------------------- senders

/** fast-check draws in chunks with a fresh seed each, so the run is endless but repeatable. */
function stream(arb, seedBase) {
  let chunk = 0;
  let buffer = [];
  return () => {
    if (buffer.length === 0) buffer = fc.sample(arb, { numRuns: 500, seed: seedBase + chunk++ });
    return buffer.pop();
  };
}

let wsQuota = wsFrames;
let httpQuota = httpRequests;

async function attackLoop(index) {
  const nextText = stream(textArb, seed * 1000 + index * 100_000);
  const nextBinary = stream(binaryArb, seed * 1000 + index * 100_000 + 50_000);
  const nextClosing = stream(closingArb, seed * 1000 + index * 100_000 + 90_000);
  let round = 0;
  let sent = 0;
  while (wsQuota > 0 && !stopping) {
    // Alternate codecs on each (re)connect.
    const binary = (index + round++) % 2 === 1;
    const ws = await openSocket(binary);
    if (!ws) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    let sync = 0;
    while (ws.readyState === WebSocket.OPEN && wsQuota > 0 && !stopping) {
      for (let i = 0; i < BATCH && wsQuota > 0 && ws.readyState === WebSocket.OPEN; i++) {
        // One input in 2,000 closes the connection by design.
        const sample = ++sent % 2_000 === 0 ? nextClosing() : binary ? nextBinary() : nextText();
        wsQuota--;
        stats.wsFrames++;
        bump(stats.byKind, sample.kind);
        if (sample.kind === 'close-wrong-type') ws.send(binary ? '{"type":"ping"}' : Buffer.from([0x80]), { binary: !binary });
        else if (sample.badText) ws.send(sample.badText, { binary: false });
        else if (sample.bytes) ws.send(sample.bytes, { binary: true });
        else ws.send(sample.text);
      }
      // Wait for the server to catch up: a ping whose pong comes after the batch's answers.
      const id = `sync-${index}-${sync++}`;
      ws.send(binary ? encode({ type: 'ping', id }) : JSON.stringify({ type: 'ping', id }), { binary });
      const started = performance.now();
      const answered = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        ws.waiters.set(id, () => (clearTimeout(timer), ws.waiters.delete(id), resolve(true)));
      });
      if (!answered) {
        stats.syncTimeouts++;
        ws.terminate();
      } else stats.syncMaxMs = Math.max(stats.syncMaxMs, performance.now() - started);
    }
    if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  }
}

function openSocket(binary) {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, [binary ? 'switchboard.v1.msgpack' : 'switchboard.v1.json'], { perMessageDeflate: false, handshakeTimeout: 5_000 });
    ws.waiters = new Map();
    let opened = false;
    ws.on('open', () => {
      opened = true;
      stats.opened++;
      resolve(ws);
    });
    ws.on('message', (data, isBinary) => {
      stats.replies++;
      let frame;
      try {
        frame = isBinary ? decode(data) : JSON.parse(data.toString());
      } catch {
        return;
      }
      if (frame?.type === 'pong') ws.waiters.get(frame.id)?.();
    });
    ws.on('close', (code) => {
      bump(stats.closes, code);
      // No pong will come: release whoever waits for one.
      for (const wake of [...ws.waiters.values()]) wake();
    });
    ws.on('error', (error) => {
      if (!opened) bump(stats.openFailures, error.code ?? error.message.slice(0, 40));
      resolve(null);
    });
  });
}

async function httpLoop(index) {
  const next = stream(httpArb, seed * 1000 + index * 100_000 + 70_000);
  while (httpQuota > 0 && !stopping) {
    httpQuota--;
    const sample = next();
    stats.httpRequests++;
    bump(stats.byKind, `http-${sample.oversize ? 'oversize' : sample.framing}`);
    bump(stats.httpAnswers, await rawRequest(httpBytes(sample)));
  }
}

/** Write the bytes, read until the server closes or 2 s pass; the first status line is the answer. */
function rawRequest(bytes) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let head = '';
    let done = false;
    const finish = (what) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => finish(head ? status(head) : 'no answer in 2 s'), 2_000);
    // The final status: skip interim 1xx answers (Expect: 100-continue).
    const status = (text) =>
      [...text.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((m) => m[1]).find((code) => code[0] !== '1') ??
      (text.startsWith('HTTP/1.1 1') ? '1xx only' : 'garbled');
    socket.on('connect', () => socket.write(bytes, () => {}));
    socket.on('data', (chunk) => {
      if (head.length < 4096) head += chunk.toString('latin1');
    });
    socket.on('end', () => finish(head ? status(head) : 'closed without answer'));
    socket.on('close', () => finish(head ? status(head) : 'closed without answer'));
    socket.on('error', (error) => finish(head ? status(head) : (error.code ?? 'error')));
  });
}

const loops = [];
for (let i = 0; i < connections; i++) loops.push(attackLoop(opts.firstIndex + i));
for (let i = 0; i < opts.httpConcurrency; i++) loops.push(httpLoop(opts.firstIndex + i));
await Promise.all(loops);
report();
process.send({ type: 'done', stats });
