// What remembered idempotency keys cost on the heap, against what
// IdempotencyKeys counts for them (issue 19, item 8: the 64 MiB default held
// ~200-250 MB). Keys and channels arrive as the server gets them, fresh
// strings out of JSON.parse of a publish frame. Two measures per scenario,
// each in a process of its own (a stale reference in a stack slot would hide
// a whole round), after a forced GC:
//  - per key: the heap's growth for --keys keys, under no bound, divided by
//    the keys: the cost the accounting's constant has to cover;
//  - at the bound: keys published past `--bound` bytes (three times as many as
//    fit), the heap's growth checked 30 times on the way: once the bound is
//    reached it goes up and down (Map rehashing, queue compaction); its
//    lowest and highest, against the bound, are what an operator gets for
//    the bound they set.
//
//   npm run build && node --expose-gc bench/idempotency-memory.mjs [--keys 200000] [--bound 16777216]
import { execFileSync } from 'node:child_process';
import { IdempotencyKeys } from '../dist/brokers/idempotency-keys.js';

if (!globalThis.gc) throw new Error('run with node --expose-gc');

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return Number(at === -1 ? fallback : process.argv[at + 1]);
}
const KEYS = option('keys', 200_000);
const BOUND = option('bound', 16 * 2 ** 20);
const WINDOW = 300_000;

function heap() {
  for (let i = 0; i < 2; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
const random = (n) => Math.floor(Math.random() * n);
const prefixes = Array.from({ length: 1_000 }, () => Array.from({ length: 16 }, () => ALPHABET[random(64)]).join(''));

/** Key makers: the SDK's (16 random characters, ".", a base-36 counter), the longest allowed, and one that V8 stores as UTF-16. */
const keyKinds = {
  sdk: (i) => `${prefixes[i % 1_000]}.${Math.floor(i / 1_000).toString(36)}`,
  'long (64)': (i) => `${prefixes[i % 1_000]}${prefixes[(i + 1) % 1_000]}${prefixes[(i + 2) % 1_000]}${i.toString(36).padStart(16, '0')}`,
  'UTF-16 (20)': (i) => `键-${prefixes[i % 1_000].slice(0, 10)}${i.toString(36).padStart(8, '0')}`,
};

const scenarios = [
  { name: 'sdk keys, 100 channels', key: keyKinds.sdk, channels: 100 },
  { name: 'sdk keys, 1 channel', key: keyKinds.sdk, channels: 1 },
  { name: 'sdk keys, 10,000 channels', key: keyKinds.sdk, channels: 10_000 },
  { name: 'sdk keys, a channel each', key: keyKinds.sdk, channels: Number.MAX_SAFE_INTEGER },
  { name: '64-char keys, 100 channels', key: keyKinds['long (64)'], channels: 100 },
  { name: 'UTF-16 keys, 100 channels', key: keyKinds['UTF-16 (20)'], channels: 100 },
];

/** Publish frame n of `scenario`, parsed as the server parses it, so that its strings are fresh as in a server. */
function remember(keys, scenario, n) {
  const text = JSON.stringify({ type: 'publish', channel: `room:${n % scenario.channels}`, idempotencyKey: scenario.key(n), payload: n, id: n });
  const frame = JSON.parse(text);
  keys.remember(frame.channel, frame.idempotencyKey, n, WINDOW, 1_000_000);
}

function perKey(scenario) {
  const keys = new IdempotencyKeys({ perChannel: Number.MAX_SAFE_INTEGER, bytes: Number.MAX_SAFE_INTEGER }, () => {});
  const before = heap();
  for (let i = 0; i < KEYS; i++) remember(keys, scenario, i);
  const grown = heap() - before;
  return { heap: grown / KEYS, counted: keys.bytes / KEYS };
}

function atBound(scenario, counted) {
  const total = Math.ceil((3 * BOUND) / counted);
  const keys = new IdempotencyKeys({ perChannel: Number.MAX_SAFE_INTEGER, bytes: BOUND }, () => {});
  const before = heap();
  let [highest, lowest] = [0, Infinity];
  const step = Math.ceil(total / 30);
  for (let i = 0; i < total; i++) {
    remember(keys, scenario, i);
    if (i % step !== step - 1) continue;
    const grown = heap() - before;
    highest = Math.max(highest, grown);
    // Once the bound is reached (a third of the way), the heap goes up and down with the Maps' rehashing and the queue's compaction.
    if (i > total / 3) lowest = Math.min(lowest, grown);
  }
  return { highest, lowest, held: keys.size };
}

const at = process.argv.indexOf('--scenario');
if (at !== -1) {
  const scenario = scenarios[Number(process.argv[at + 1])];
  const one = perKey(scenario);
  process.stdout.write(JSON.stringify(process.argv.includes('--at-bound') ? { ...one, ...atBound(scenario, one.counted) } : one));
} else {
  const run = (i, ...more) =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--expose-gc', new URL(import.meta.url).pathname, '--scenario', String(i), '--keys', String(KEYS), '--bound', String(BOUND), ...more],
        { encoding: 'utf8' },
      ),
    );
  const mb = (bytes) => (bytes / 2 ** 20).toFixed(1);
  console.log(`Node ${process.version}; ${KEYS.toLocaleString('en')} keys per scenario; bound ${mb(BOUND)} MiB`);
  console.log(
    '| scenario | heap bytes/key | counted bytes/key | heap / counted | keys held at the bound | heap at the bound, MiB (lowest-highest) | / bound |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  scenarios.forEach((scenario, i) => {
    const one = run(i);
    const full = run(i, '--at-bound');
    console.log(
      `| ${scenario.name} | ${one.heap.toFixed(0)} | ${one.counted.toFixed(0)} | ${(one.heap / one.counted).toFixed(2)} | ${full.held.toLocaleString('en')} | ${mb(full.lowest)}-${mb(full.highest)} | ${(full.lowest / BOUND).toFixed(2)}-${(full.highest / BOUND).toFixed(2)} |`,
    );
  });
}
