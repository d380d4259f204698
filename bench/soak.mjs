// Fuzz soak: a long stream of random, mutated and lying frames (JSON and
// MessagePack) and random HTTP requests against one server, while well-behaved
// bystanders check that they still receive every publication in order; the
// server's memory and event-loop delay are sampled every second throughout.
//
//   npm run build && node bench/soak.mjs [--frames 1000000] [--procs 2] [--connections 4]
//                                        [--http 0.05] [--bystanders 20] [--rate 100] [--json]
//
// The server is `node dist/cli/main.js serve` with rate limits lifted (so that
// frames are parsed, not refused for speed). A crash or a hang ends the run and
// is reported with the tail of the server's output. See docs/security.md, "Soak".
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setPriority } from 'node:os';
import { parseArgs } from 'node:util';
import { connect } from '../dist/client/node.js';
import {
  addCounts,
  counts,
  fmt,
  freePort,
  httpRequest,
  mib,
  ms,
  now,
  own,
  quantile,
  repeat,
  rssOf,
  scrapeLag,
  sleep,
  startServer,
  table,
  writeConfig,
} from './harness.mjs';

const { values } = parseArgs({
  options: {
    /** Inputs in all: WebSocket frames plus HTTP requests. */
    frames: { type: 'string', default: '1000000' },
    procs: { type: 'string', default: '2' },
    /** Attacker WebSocket connections, over all processes. */
    connections: { type: 'string', default: '4' },
    /** Share of the inputs that are HTTP requests rather than frames. */
    http: { type: 'string', default: '0.05' },
    'http-concurrency': { type: 'string', default: '4' },
    bystanders: { type: 'string', default: '20' },
    /** Publications per second to the bystanders' channel. */
    rate: { type: 'string', default: '100' },
    /** Seconds to let the server settle after the attackers leave. */
    settle: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    'max-minutes': { type: 'string', default: '120' },
    port: { type: 'string', default: '0' },
    'server-config': { type: 'string', default: '{}' },
    json: { type: 'boolean', default: false },
  },
});
const FRAMES = Number(values.frames);
const PROCS = Number(values.procs);
const CONNECTIONS = Math.max(PROCS, Number(values.connections));
const HTTP_SHARE = Number(values.http);
const HTTP_CONCURRENCY = Number(values['http-concurrency']);
const BYSTANDERS = Number(values.bystanders);
const RATE = Number(values.rate);
const CHANNEL = 'soak-watch';
const t00 = now();
const log = (...args) => console.error(`[soak ${((now() - t00) / 1000).toFixed(1)}s]`, ...args);

const apiKey = randomUUID();
const port = Number(values.port) || (await freePort());
const extra = JSON.parse(values['server-config']);
const config = {
  ...extra,
  limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, connectionsPerIp: 100_000, pendingConnectionsPerIp: 100_000, ...extra.limits },
};
const maxPayload = config.limits.maxPayload ?? 1_048_576;
const server = await startServer(['--port', String(port), '--host', '127.0.0.1', '--config', writeConfig(config), '--api-key', apiKey]);
const base = `http://127.0.0.1:${port}`;
const wsUrl = `ws://127.0.0.1:${port}${config.path ?? '/ws'}`;
log(`server pid ${server.pid} on ${base}`);

let crashed = null;
let shuttingDown = false; // our own SIGTERM at the end is not a crash
server.exited.then((how) => {
  if (shuttingDown) return;
  crashed = how;
  log(`SERVER EXITED (code ${how.code}, signal ${how.signal}); its last output:\n${server.tail(30)}`);
});

// --------------------------------------------------------------- samplers

const rss = [];
const lagInside = [];
const rssTimer = setInterval(() => {
  const value = rssOf(server.pid);
  if (value !== null) rss.push({ at: now(), rss: value });
}, 1000);
const health = repeat(100, () => httpRequest(`${base}/healthz`, { timeout: 5_000 }));
// One scrape at a time: prom-client resets its delay histogram on each, so
// every answer covers exactly the time since the previous one (>= 1 s).
let scraping = true;
const lagLoop = (async () => {
  while (scraping && !crashed) {
    const started = now();
    const r = await scrapeLag(base);
    if (typeof r.maxMs === 'number') lagInside.push({ at: started, ...r });
    await sleep(Math.max(0, 1000 - (now() - started)));
  }
})();

// -------------------------------------------------------------- bystanders

const watchers = [];
for (let i = 0; i < BYSTANDERS; i++) {
  const state = { last: null, received: 0, gaps: 0, disconnects: 0, resets: 0, ready: null };
  const client = connect(wsUrl);
  client.on('disconnected', () => state.disconnects++);
  const sub = client.subscribe(CHANNEL, (_payload, frame) => {
    state.received++;
    if (state.last !== null && frame.offset > state.last + 1) state.gaps += frame.offset - state.last - 1;
    state.last = frame.offset;
  });
  sub.on('subscribed', (result) => {
    if (state.last === null) state.last = result.offset;
  });
  sub.on('reset', (result) => {
    // A new epoch (the server restarted): offsets start again.
    state.resets++;
    state.last = result.offset;
  });
  state.ready = sub.ready;
  watchers.push({ client, state });
}
await Promise.all(watchers.map((w) => w.state.ready));
const publisher = connect(wsUrl);
const published = { acked: 0, rejected: {}, maxOffset: 0 };
const publishTimer = setInterval(() => {
  for (let i = 0; i < RATE / 10; i++) {
    publisher.publish(CHANNEL, { t: now() }).then(
      (r) => {
        published.acked++;
        published.maxOffset = Math.max(published.maxOffset, r.offset ?? 0);
      },
      (error) => (published.rejected[error.code] = (published.rejected[error.code] ?? 0) + 1),
    );
  }
}, 100);
log(`${BYSTANDERS} bystanders subscribed to ${CHANNEL}; publishing ${RATE}/s`);
await sleep(3000);
const baselineRss = rssOf(server.pid);

// ---------------------------------------------------------------- attack

const attackAt = now();
const httpTotal = Math.round(FRAMES * HTTP_SHARE);
const wsTotal = FRAMES - httpTotal;
const attackers = [];
const progress = [];
for (let i = 0; i < PROCS; i++) {
  const share = (total) => Math.floor(total / PROCS) + (i < total % PROCS ? 1 : 0);
  const child = own(
    fork(
      new URL('./soak-attacker.mjs', import.meta.url).pathname,
      [
        JSON.stringify({
          wsUrl,
          port,
          apiKey,
          maxPayload,
          seed: Number(values.seed),
          firstIndex: i * 1000,
          connections: share(CONNECTIONS),
          httpConcurrency: Math.max(1, share(HTTP_CONCURRENCY)),
          wsFrames: share(wsTotal),
          httpRequests: share(httpTotal),
        }),
      ],
      { stdio: 'inherit' },
    ),
  );
  // Generating inputs takes CPU the server and the probes need more: the
  // attackers yield it, so that the figures are the server's, not contention's.
  try {
    setPriority(child.pid, 10);
  } catch {
    // not permitted here: the attackers then compete with the server as equals
  }
  progress.push(null);
  child.done = new Promise((resolve) => {
    child.on('message', (m) => {
      if (m.type === 'progress' || m.type === 'done') progress[i] = m.stats;
      if (m.type === 'done') resolve();
    });
    child.once('exit', resolve);
  });
  attackers.push(child);
}
const sentSoFar = () => progress.reduce((s, p) => s + (p ? p.wsFrames + p.httpRequests : 0), 0);
const deadline = attackAt + Number(values['max-minutes']) * 60_000;
let hung = false;
let stoppedBy = 'all inputs sent';
const allDone = Promise.all(attackers.map((a) => a.done));
let finished = false;
allDone.then(() => (finished = true));
let lastReport = 0;
while (!finished) {
  await sleep(250);
  if (crashed) {
    stoppedBy = `server exited, after about ${fmt(sentSoFar())} inputs`;
    break;
  }
  if (now() > deadline) {
    stoppedBy = `--max-minutes ${values['max-minutes']} reached`;
    break;
  }
  // No /healthz answer for 30 s while the process lives: it hangs.
  const recent = health.results.filter((r) => r.at > now() - 30_000);
  if (now() - attackAt > 35_000 && recent.length > 0 && recent.every((r) => r.status !== 200)) {
    hung = true;
    stoppedBy = 'server stopped answering /healthz for 30 s';
    break;
  }
  if (now() - lastReport > 5000) {
    lastReport = now();
    const last = rss.at(-1);
    log(
      `${fmt(sentSoFar())} of ${fmt(FRAMES)} inputs sent; server RSS ${mib(last?.rss)}; bystanders got ${fmt(watchers.reduce((s, w) => s + w.state.received, 0))}`,
    );
  }
}
const attackEnd = now();
for (const a of attackers) a.connected && a.send({ type: 'stop' });
await Promise.race([allDone, sleep(15_000)]);
for (const a of attackers) a.kill('SIGKILL');
log(`attack over (${stoppedBy}) after ${ms(attackEnd - attackAt)}`);

// ---------------------------------------------------------------- settle

if (!crashed && !hung) {
  log(`settling for ${values.settle} s`);
  await sleep(Number(values.settle) * 1000);
}
clearInterval(publishTimer);
await sleep(crashed ? 0 : 2000); // the last publications reach the bystanders
const afterRss = crashed ? null : rssOf(server.pid);
const finalHealth = crashed ? { error: 'exited' } : await httpRequest(`${base}/healthz`, { timeout: 5_000 });
let channelOffset = null;
if (!crashed) {
  const r = await httpRequest(`${base}/api/history?channel=${CHANNEL}&limit=1`, { headers: { authorization: `apikey ${apiKey}` }, timeout: 5_000 });
  if (r.status === 200) channelOffset = JSON.parse(r.body).offset;
}
clearInterval(rssTimer);
const healthResults = await health.stop();
scraping = false;
await lagLoop;
for (const w of watchers) w.client.close();
publisher.close();
if (!crashed) {
  shuttingDown = true;
  server.child.kill('SIGTERM');
  await Promise.race([server.exited, sleep(10_000)]);
}

// ---------------------------------------------------------------- report

const stats = { wsFrames: 0, httpRequests: 0, opened: 0, syncTimeouts: 0, syncMaxMs: 0, openFailures: {}, closes: {}, httpAnswers: {}, byKind: {} };
for (const p of progress.filter(Boolean)) {
  for (const k of ['wsFrames', 'httpRequests', 'opened', 'syncTimeouts']) stats[k] += p[k];
  stats.syncMaxMs = Math.max(stats.syncMaxMs, p.syncMaxMs);
  for (const k of ['openFailures', 'closes', 'httpAnswers', 'byKind']) addCounts(stats[k], p[k]);
}
const during = (list, from, to) => list.filter((x) => x.at >= from && x.at < to);
const attackHealth = during(healthResults, attackAt, attackEnd);
const answered = attackHealth.filter((r) => r.status === 200).map((r) => r.ms);
const attackLag = during(lagInside, attackAt, attackEnd + 1000);
const rssDuring = during(rss, attackAt, attackEnd + 1000).map((x) => x.rss);
const behind = channelOffset === null ? null : watchers.filter((w) => w.state.last !== channelOffset).length;

const result = {
  config: {
    frames: FRAMES,
    procs: PROCS,
    connections: CONNECTIONS,
    httpShare: HTTP_SHARE,
    bystanders: BYSTANDERS,
    rate: RATE,
    seed: Number(values.seed),
    port,
  },
  stoppedBy,
  durationMs: attackEnd - attackAt,
  sent: { total: stats.wsFrames + stats.httpRequests, wsFrames: stats.wsFrames, httpRequests: stats.httpRequests, byKind: stats.byKind },
  server: {
    alive: !crashed && !hung && finalHealth.status === 200,
    exited: crashed ? { code: crashed.code, signal: crashed.signal, afterMs: crashed.at - attackAt } : null,
    hung,
    outputTail: crashed || hung ? server.tail(30) : undefined,
  },
  attackers: {
    connectionsOpened: stats.opened,
    openFailures: stats.openFailures,
    closedBy: stats.closes,
    syncTimeouts: stats.syncTimeouts,
    slowestBatchMs: stats.syncMaxMs,
    httpAnswers: stats.httpAnswers,
  },
  bystanders: {
    gaps: watchers.reduce((s, w) => s + w.state.gaps, 0),
    disconnects: watchers.reduce((s, w) => s + w.state.disconnects, 0),
    resets: watchers.reduce((s, w) => s + w.state.resets, 0),
    received: watchers.reduce((s, w) => s + w.state.received, 0),
    behindAtEnd: behind,
    channelOffset,
    published: published.acked,
    publishRejected: published.rejected,
  },
  rss: {
    baseline: baselineRss,
    peak: rssDuring.length ? Math.max(...rssDuring) : null,
    afterClientsLeft: afterRss,
    samples: rss.length,
  },
  lag: {
    outside: {
      source: 'GET /healthz every 100 ms during the attack, latency',
      p50Ms: quantile(answered, 0.5),
      p99Ms: quantile(answered, 0.99),
      maxMs: answered.length ? Math.max(...answered) : null,
      unanswered: attackHealth.length - answered.length,
      sent: attackHealth.length,
    },
    inside: {
      source:
        "prom-client's nodejs_eventloop_lag_max_seconds from /metrics, scraped one at a time about every second (each: the max since the previous scrape)",
      p50Ms: quantile(
        attackLag.map((x) => x.maxMs),
        0.5,
      ),
      p99Ms: quantile(
        attackLag.map((x) => x.maxMs),
        0.99,
      ),
      maxMs: attackLag.length ? Math.max(...attackLag.map((x) => x.maxMs)) : null,
      scrapes: attackLag.length,
    },
  },
};

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const r = result;
  console.log(
    `\nFuzz soak: ${fmt(FRAMES)} inputs (${fmt(HTTP_SHARE * 100)}% HTTP) from ${CONNECTIONS} connections in ${PROCS} processes; ${BYSTANDERS} bystanders, ${RATE} publications/s\n`,
  );
  console.log(
    table([
      ['inputs sent (frames / HTTP requests)', `${fmt(r.sent.total)} (${fmt(r.sent.wsFrames)} / ${fmt(r.sent.httpRequests)}) in ${ms(r.durationMs)}`],
      ['run ended by', r.stoppedBy],
      [
        'server alive',
        r.server.alive
          ? 'yes'
          : r.server.exited
            ? `NO: exited with ${r.server.exited.code ?? r.server.exited.signal} after ${ms(r.server.exited.afterMs)} of attack`
            : r.server.hung
              ? 'NO: hung'
              : 'NO: /healthz not answered at the end',
      ],
      ['bystanders: offsets missed (target 0)', fmt(r.bystanders.gaps)],
      [
        'bystanders: disconnects / resets / behind at the end',
        `${fmt(r.bystanders.disconnects)} / ${fmt(r.bystanders.resets)} / ${fmt(r.bystanders.behindAtEnd)}`,
      ],
      ['bystanders: received (publications acknowledged)', `${fmt(r.bystanders.received)} (${fmt(r.bystanders.published)} × ${BYSTANDERS})`],
      ['server RSS baseline / peak / after clients left', `${mib(r.rss.baseline)} / ${mib(r.rss.peak)} / ${mib(r.rss.afterClientsLeft)}`],
      [
        'event loop, /healthz latency p50 / p99 / max (outside)',
        `${ms(r.lag.outside.p50Ms)} / ${ms(r.lag.outside.p99Ms)} / ${ms(r.lag.outside.maxMs)}; ${fmt(r.lag.outside.unanswered)} of ${fmt(r.lag.outside.sent)} unanswered`,
      ],
      ['event loop, delay max per ~1 s interval p50 / p99 / max (inside)', `${ms(r.lag.inside.p50Ms)} / ${ms(r.lag.inside.p99Ms)} / ${ms(r.lag.inside.maxMs)}`],
      ['attacker connections opened / failed to open', `${fmt(r.attackers.connectionsOpened)} / ${counts(r.attackers.openFailures)}`],
      ['attacker connections closed, by code', counts(r.attackers.closedBy)],
      ['slowest batch of 200 frames answered / unanswered in 10 s', `${ms(r.attackers.slowestBatchMs)} / ${fmt(r.attackers.syncTimeouts)}`],
      ['HTTP answers', counts(r.attackers.httpAnswers)],
    ]),
  );
  if (r.server.outputTail) console.log(`\nThe server's last output:\n\n${r.server.outputTail}`);
}
process.exit(0);
