// Start time: from spawning `node dist/cli/main.js serve --port 0` to its
// "listening" line on stdout, over many runs, beside bare Node printing one
// line (the floor no server can beat), and optionally beside another
// checkout's build, in turn (A B A B ...), so that a machine whose speed
// drifts affects both alike. Read the medians and the per-round ratio.
//
//   npm run build && node bench/start.mjs [--runs 20] [--redis URL] [--against DIR] [--json]
//
// --against DIR: another checkout, built (its dist/cli/main.js is run the same way).
// --redis URL: serve with the Redis broker. Each server registers as a node
// while it runs: use a Redis of your own (redis-server --port 6390 --save ''),
// not one that other nodes share.
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '2' },
    redis: { type: 'string' },
    against: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
const root = new URL('..', import.meta.url).pathname;
const serveArgs = ['serve', '--port', '0', ...(values.redis ? ['--redis', values.redis] : [])];

const subjects = [
  { name: 'this checkout', args: [join(root, 'dist/cli/main.js'), ...serveArgs] },
  ...(values.against ? [{ name: values.against, args: [join(resolve(values.against), 'dist/cli/main.js'), ...serveArgs] }] : []),
  // What Node itself takes to start and print a line: the floor.
  { name: 'node -e (one line)', args: ['-e', "console.log('switchboard listening on nothing')"] },
];

/** ms from spawn to the line containing "listening on"; the process is then stopped (SIGTERM, drained) and awaited. */
function once(args) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn' } });
    let elapsed = null;
    let seen = '';
    let errors = '';
    child.stdout.on('data', (chunk) => {
      if (elapsed !== null) return;
      seen += chunk.toString();
      if (!seen.includes('listening on')) return;
      elapsed = performance.now() - started;
      child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk) => (errors += chunk.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code, signal) => {
      clearTimeout(kill);
      if (elapsed === null) reject(new Error(`${args.join(' ')}: exited (code ${code}, signal ${signal}) before its listening line\n${errors}`));
      else resolve(elapsed);
    });
  });
}

const median = (xs) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const loadBefore = loadavg()[0];
for (let i = 0; i < WARMUP; i++) for (const subject of subjects) await once(subject.args);
const times = subjects.map(() => []);
for (let round = 0; round < RUNS; round++) {
  for (const [i, subject] of subjects.entries()) times[i].push(await once(subject.args));
}
const loadAfter = loadavg()[0];

const result = {
  runs: RUNS,
  broker: values.redis ? 'redis' : 'memory',
  loadAverage: [loadBefore, loadAfter].map((l) => Number(l.toFixed(2))),
  subjects: subjects.map((subject, i) => ({
    name: subject.name,
    min: Math.min(...times[i]),
    median: median(times[i]),
    max: Math.max(...times[i]),
  })),
  // Per round, this checkout over the other: the median of those ratios.
  ratio: values.against ? median(times[0].map((t, round) => t / times[1][round])) : null,
};

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const f = (n) => n.toFixed(1).padStart(7);
  console.log(`${RUNS} runs each, in turn, ${result.broker} broker, load average ${result.loadAverage.join(' -> ')}`);
  console.log(`${'ms to the listening line'.padEnd(36)}    min  median     max`);
  for (const s of result.subjects) console.log(`${s.name.slice(-36).padEnd(36)}${f(s.min)} ${f(s.median)} ${f(s.max)}`);
  if (result.ratio !== null) console.log(`this checkout / ${values.against}, median of per-round ratios: ${result.ratio.toFixed(3)}`);
}
