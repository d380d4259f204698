// Reconnect storm: many SDK clients on one server, the server killed and
// restarted on the same port at once, and what the clients and the traffic go
// through until every client has its subscription back.
//
//   npm run build && node bench/storm.mjs [--clients 10000] [--procs 5] [--broker memory|redis]
//                                         [--kill SIGKILL|SIGTERM] [--rate 200] [--json]
//                                         [--nodes 2 [--nginx-workers 2]]
//
// The server is `node dist/cli/main.js serve` (the way it is deployed), with a
// config file that lifts the per-IP limits (every client here comes from
// 127.0.0.1) and the rate limits. Client i subscribes to channel i % channels;
// 20 publishers publish numbered payloads over those channels, so recovery has
// something to recover and every acknowledgement can be checked afterwards.
// With --nodes 2 (and --broker redis) it is a rolling deploy instead: two
// servers behind nginx, each restarted in turn (bench/storm-rolling.mjs).
// See docs/operations.md, "Reconnect storm", for what each figure means.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  clientTally,
  counts,
  countBy,
  fmt,
  freePort,
  httpRequest,
  ms,
  now,
  own,
  quantile,
  readHistories,
  repeat,
  scrapeLag,
  sleep,
  startServer,
  table,
  upgradeProbe,
  waitFor,
  writeConfig,
} from './harness.mjs';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    procs: { type: 'string', default: '5' },
    channels: { type: 'string', default: '100' },
    publishers: { type: 'string', default: '20' },
    /** Publications per second, all publishers together. */
    rate: { type: 'string', default: '200' },
    broker: { type: 'string', default: 'memory' },
    redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
    /** SIGKILL by default; SIGTERM with --nodes 2. */
    kill: { type: 'string' },
    /** 2: a rolling deploy of two nodes behind nginx (bench/storm-rolling.mjs); needs --broker redis. */
    nodes: { type: 'string', default: '1' },
    /** nginx worker processes with --nodes 2: each holds two sockets per client under the open-file limit. */
    'nginx-workers': { type: 'string', default: '2' },
    /** Seconds of steady traffic before the kill. */
    warmup: { type: 'string', default: '5' },
    /** Seconds to wait for all clients to subscribe, and again to resubscribe. */
    timeout: { type: 'string', default: '120' },
    /** Seconds of publishing after the last client is back. */
    after: { type: 'string', default: '3' },
    port: { type: 'string', default: '0' },
    /** JSON merged into the server's config file, e.g. '{"backlog":8192}'. */
    'server-config': { type: 'string', default: '{}' },
    json: { type: 'boolean', default: false },
  },
});
const CLIENTS = Number(values.clients);
const PROCS = Math.min(Number(values.procs), CLIENTS);
const CHANNELS = Number(values.channels);
const PUBLISHERS = Number(values.publishers);
const RATE = Number(values.rate);
const NODES = Number(values.nodes);
const SIGNAL = (values.kill ?? (NODES > 1 ? 'SIGTERM' : 'SIGKILL')).toUpperCase();
const BROKER = values.broker;
const TIMEOUT = Number(values.timeout) * 1000;
if (!['SIGKILL', 'SIGTERM'].includes(SIGNAL)) throw new Error('--kill is SIGKILL or SIGTERM');
if (!['memory', 'redis'].includes(BROKER)) throw new Error('--broker is memory or redis');
if (![1, 2].includes(NODES)) throw new Error('--nodes is 1 or 2');
if (NODES > 1 && BROKER !== 'redis') throw new Error('--nodes 2 needs --broker redis: the nodes share channels through it');
if (CLIENTS / PROCS > 15_000) throw new Error('at most 15,000 clients per process (open-file limit): raise --procs');
const log = (...args) => console.error(`[storm ${((now() - t00) / 1000).toFixed(1)}s]`, ...args);
const t00 = now();

// Channels unique to this run: the Redis is shared, so nothing is flushed and
// no other run's keys are read (they expire with the history ttl).
const prefix = `storm-${randomBytes(4).toString('hex')}-`;
const apiKey = randomUUID();
const port = Number(values.port) || (await freePort());

function merge(base, extra) {
  for (const [k, v] of Object.entries(extra)) {
    base[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof base[k] === 'object' ? merge({ ...base[k] }, v) : v;
  }
  return base;
}
const config = merge(
  {
    // Behind nginx (--nodes 2) every connection comes from it (docs/scaling.md, "Behind nginx").
    ...(NODES > 1 ? { trustProxy: ['127.0.0.1'] } : {}),
    limits: {
      connectionsPerIp: 100_000,
      pendingConnectionsPerIp: 100_000,
      messagesPerSecond: 100_000,
      burst: 100_000,
    },
    // Room for the whole run in every channel's history, so that a publication
    // missing from it was lost, not evicted.
    namespaces: { '': { history: { size: 5_000, ttl: 900_000 } } },
  },
  JSON.parse(values['server-config']),
);
const configFile = writeConfig(config);
const serverArgs = ['--port', String(port), '--host', '127.0.0.1', '--config', configFile, '--api-key', apiKey];
if (BROKER === 'redis') serverArgs.push('--redis', values.redis);
const base = `http://127.0.0.1:${port}`;
const wsUrl = `ws://127.0.0.1:${port}${config.path ?? '/ws'}`;

/** Start the server; right after a kill the port may still be held for a moment. */
async function start(args = serverArgs) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(args);
    } catch (error) {
      if (attempt >= 50 || !/EADDRINUSE/.test(error.message)) throw error;
      await sleep(20);
    }
  }
}

const worker = new URL('./storm-worker.mjs', import.meta.url).pathname;
/** The subscriber processes (storm-worker.mjs), CLIENTS clients over PROCS processes, and what each last reported. */
function spawnSubscribers(url, extra = {}) {
  const procs = [];
  const progress = [];
  for (let i = 0, first = 0; i < PROCS; i++) {
    const count = Math.floor(CLIENTS / PROCS) + (i < CLIENTS % PROCS ? 1 : 0);
    const child = own(fork(worker, ['subscribers', JSON.stringify({ url, first, count, channels: CHANNELS, prefix, ...extra })], { stdio: 'inherit' }));
    progress.push({ ready: 0, resubscribed: 0, received: 0 });
    child.on('message', (m) => m.type === 'progress' && (progress[i] = { ...m, at: now() }));
    procs.push(child);
    first += count;
  }
  const total = (key) => progress.reduce((sum, p) => sum + (p[key] ?? 0), 0);
  return { procs, progress, total };
}

if (NODES > 1) {
  const { rollingDeploy } = await import('./storm-rolling.mjs');
  await rollingDeploy({
    values,
    CLIENTS,
    PROCS,
    CHANNELS,
    PUBLISHERS,
    RATE,
    SIGNAL,
    TIMEOUT,
    config,
    configFile,
    apiKey,
    prefix,
    port,
    log,
    start,
    spawnSubscribers,
  });
  process.exit(0);
}

let server = await start();
log(`server pid ${server.pid} on ${base} (${BROKER} broker)`);

// ------------------------------------------------------------------ clients

const { procs, total } = spawnSubscribers(wsUrl);
const ticker = setInterval(() => log(`subscribed ${total('ready')}, resubscribed ${total('resubscribed')}, messages received ${total('received')}`), 2000);
await Promise.all(procs.map((c, i) => waitFor(c, 'ready', TIMEOUT, `subscribers of process ${i}`)));
log(`all ${CLIENTS} clients subscribed`);

const publisher = own(
  fork(worker, ['publishers', JSON.stringify({ url: wsUrl, publishers: PUBLISHERS, rate: RATE, channels: CHANNELS, prefix })], { stdio: 'inherit' }),
);
await waitFor(publisher, 'ready', 30_000, 'publishers');
log(`publishing ${RATE}/s from ${PUBLISHERS} clients; ${values.warmup} s before the kill`);
await sleep(Number(values.warmup) * 1000);
const receivedBeforeKill = total('received');
if (receivedBeforeKill === 0) throw new Error('no subscriber received anything before the kill: traffic is not flowing');

// --------------------------------------------------------------------- kill

// From here on a subscriber's next 'subscribed' is its resubscribe: arm them
// all before the kill so no disconnect can overtake the message.
await Promise.all(procs.map((c) => (c.send({ type: 'arm' }), waitFor(c, 'armed', 10_000, 'arm'))));

const health = repeat(10, () => httpRequest(`${base}/healthz`, { timeout: 2_000 }));
const upgrades = repeat(10, () => upgradeProbe(wsUrl, 2_000));
// prom-client resets its delay histogram on every scrape: each answer is the max since the previous one,
// so one scrape first, whose max covers everything since the server started (the clients connecting).
await scrapeLag(base);
const lag = repeat(100, () => scrapeLag(base));
const killAt = now();
const old = server;
old.child.kill(SIGNAL);
log(`sent ${SIGNAL} to ${old.pid}`);
let drainCut = false;
const exit = await Promise.race([old.exited, sleep(60_000).then(() => null)]);
if (!exit) {
  drainCut = true;
  old.child.kill('SIGKILL');
}
const exitInfo = exit ?? (await old.exited);
const exitAt = exitInfo.at;
log(`old server exited (code ${exitInfo.code}, signal ${exitInfo.signal}) after ${ms(exitAt - killAt)}`);
server = await start();
const listenAt = server.listeningAt;
log(`new server pid ${server.pid} listening ${ms(listenAt - exitAt)} after the exit`);
await sleep(1000);
const probes = { health: await health.stop(), upgrades: await upgrades.stop(), lag: await lag.stop() };

const recoverBy = now() + TIMEOUT;
while (total('resubscribed') < CLIENTS && now() < recoverBy && server.child.exitCode === null) await sleep(200);
const allBackAt = now();
log(`${total('resubscribed')} of ${CLIENTS} resubscribed`);
await sleep(Number(values.after) * 1000);

// -------------------------------------------------------------------- check

publisher.send({ type: 'stop' });
await waitFor(publisher, 'stopped', 30_000, 'publishers to settle');
await sleep(1000); // the last deliveries
clearInterval(ticker);
const ask = (child) => (child.send({ type: 'report' }), waitFor(child, 'report', 30_000, 'a report'));
const subReports = await Promise.all(procs.map(ask));
const pubReport = await ask(publisher);

const histories = await readHistories(
  base,
  apiKey,
  Array.from({ length: CHANNELS }, (_, c) => prefix + c),
  config.namespaces['']?.history?.size,
);
const { errors: historyErrors, full: historyFull } = histories;
const history = new Set();
for (const publications of histories.byChannel.values()) for (const { payload } of publications) history.add(`${payload.p}:${payload.seq}`);
const delivered = new Set();
for (const r of subReports) for (const list of Object.values(r.seen)) for (const key of list) delivered.add(key);

for (const child of [...procs, publisher]) child.send({ type: 'close' });
server.child.kill('SIGTERM');
await Promise.race([server.exited, sleep(5_000)]);

// ----------------------------------------------------------------- analysis

const resub = subReports
  .flatMap((r) => r.resubAt)
  .filter((t) => t !== null)
  .map((t) => t - killAt)
  .sort((a, b) => a - b);
/** When `share` of all clients (not of those that made it) had resubscribed. */
const reached = (share) => {
  const need = Math.ceil(share * CLIENTS);
  return need <= resub.length ? resub[need - 1] : null;
};
const sum = (key) => subReports.reduce((s, r) => s + r[key], 0);

const phase = (list, from, to) => list.filter((x) => x.at >= from && x.at < to);
const drainHealth = phase(probes.health, killAt, exitAt);
const answered = drainHealth.filter((x) => x.status === 200);
const drainLag = phase(probes.lag, killAt, exitAt).filter((x) => x.maxMs !== null && x.maxMs !== undefined);
if (process.env.STORM_LAG_SERIES) {
  console.error('lag series (s from kill: max ms):', drainLag.map((x) => `${((x.at - killAt) / 1000).toFixed(1)}:${Math.round(x.maxMs)}`).join(' '));
  const h = phase(probes.health, killAt, exitAt);
  console.error(
    'health series (s from kill: ms):',
    h.map((x) => `${((x.at - killAt) / 1000).toFixed(2)}:${x.status === 200 ? Math.round(x.ms) : (x.error ?? x.status)}`).join(' '),
  );
}
const upgradeKinds = {
  drain: countBy(phase(probes.upgrades, killAt, exitAt), (x) => x.kind),
  down: countBy(phase(probes.upgrades, exitAt, listenAt), (x) => x.kind),
  up: countBy(phase(probes.upgrades, listenAt, Infinity), (x) => x.kind),
};

const key = (p, seq) => `${p}:${seq}`;
const acked = pubReport.acked.map(([p, seq, channel, offset, sentAt, at]) => ({ id: key(p, seq), channel, offset, sentAt, at }));
const rejected = pubReport.rejected.map(([p, seq, _channel, code, message, sentAt, at]) => ({ id: key(p, seq), code, message, sentAt, at }));
// Memory: history dies with the process, so an acknowledgement counts as kept
// if a subscriber got it or the new server's history has it. Redis: only the
// history counts: that is what recovery reads from.
const kept = BROKER === 'redis' ? (id) => history.has(id) : (id) => history.has(id) || delivered.has(id);
const lost = acked.filter((a) => !kept(a.id));
const storedAnyway = rejected.filter((r) => kept(r.id));
const byReason = (list) => countBy(list, (r) => `${r.code}: ${r.message}`);

const result = {
  config: { clients: CLIENTS, procs: PROCS, channels: CHANNELS, publishers: PUBLISHERS, rate: RATE, broker: BROKER, kill: SIGNAL, port },
  server: {
    exitCode: exitInfo.code,
    exitSignal: exitInfo.signal,
    drainMs: exitAt - killAt,
    drainCutAfter60s: drainCut,
    restartMs: listenAt - exitAt,
  },
  resubscribed: {
    count: resub.length,
    p50Ms: reached(0.5),
    p90Ms: reached(0.9),
    p99Ms: reached(0.99),
    p100Ms: reached(1),
    recovered: sum('recovered'),
    reset: sum('reset'),
    gapsAfterRecovery: sum('gapsAfterRecovery'),
    connectedAtEnd: sum('connectedAtEnd'),
    waitedMs: allBackAt - killAt,
  },
  clients: {
    gaveUp: sum('gaveUp'),
    // The first connect of each client is not a reconnect.
    ...clientTally(subReports, sum('connects') - CLIENTS),
    refusedSubscriptions: subReports.flatMap((r) => r.refused),
  },
  probes: {
    upgrades: upgradeKinds,
    healthDuringDrain: {
      source: 'outside: GET /healthz every 10 ms',
      sent: drainHealth.length,
      answered: answered.length,
      noAnswer: countBy(
        drainHealth.filter((x) => x.status !== 200),
        (x) => x.error ?? `http ${x.status}`,
      ),
      p50Ms: quantile(
        answered.map((x) => x.ms),
        0.5,
      ),
      p99Ms: quantile(
        answered.map((x) => x.ms),
        0.99,
      ),
      maxMs: answered.length ? Math.max(...answered.map((x) => x.ms)) : null,
    },
    lagDuringDrain: {
      source: "inside: prom-client's nodejs_eventloop_lag_max_seconds from /metrics, scraped every 100 ms",
      scrapes: drainLag.length,
      maxMs: drainLag.length ? Math.max(...drainLag.map((x) => x.maxMs)) : null,
    },
  },
  publishes: {
    sent: acked.length + rejected.length,
    acked: acked.length,
    ackedBeforeKill: acked.filter((a) => a.at < killAt).length,
    rejected: rejected.length,
    rejectedBy: byReason(rejected),
    rejectedDuringDrain: byReason(rejected.filter((r) => r.at >= killAt && r.at < exitAt)),
    ackedThenLost: lost.length,
    ackedThenLostSample: lost.slice(0, 10),
    storedWithoutAck: storedAnyway.length,
    storedWithoutAckBy: byReason(storedAnyway),
    ackedNotDelivered: acked.filter((a) => !delivered.has(a.id)).length,
    lostCheckedAgainst: BROKER === 'redis' ? 'history (Redis)' : "what subscribers received, and the new server's history",
    historyErrors,
    historyChannelsFull: historyFull,
  },
  publishersClients: { gaveUp: pubReport.gaveUp, reconnectAttempts: pubReport.attempts, attemptErrors: pubReport.attemptErrors },
};

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const r = result;
  console.log(
    `\nReconnect storm: ${fmt(CLIENTS)} clients in ${PROCS} processes on ${CHANNELS} channels, ${RATE} publications/s, ${BROKER} broker, ${SIGNAL}\n`,
  );
  console.log(
    table([
      [null, 'server'],
      [
        'kill → old process gone',
        ms(r.server.drainMs) + (drainCut ? ' (cut with SIGKILL after 60 s)' : '') + ` (exit ${r.server.exitCode ?? r.server.exitSignal})`,
      ],
      ['old gone → new one listening', ms(r.server.restartMs)],
      [null, 'resubscribed, time from the kill'],
      ['50% of clients', ms(r.resubscribed.p50Ms)],
      ['90%', ms(r.resubscribed.p90Ms)],
      ['99%', ms(r.resubscribed.p99Ms)],
      [
        '100%',
        r.resubscribed.p100Ms === null
          ? `not reached: ${fmt(r.resubscribed.count)} of ${fmt(CLIENTS)} in ${ms(r.resubscribed.waitedMs)}`
          : ms(r.resubscribed.p100Ms),
      ],
      ['recovered / reset', `${fmt(r.resubscribed.recovered)} / ${fmt(r.resubscribed.reset)}`],
      ['offsets missed after a recovered resubscribe', fmt(r.resubscribed.gapsAfterRecovery)],
      [null, 'clients'],
      ['gave up (closed for good)', fmt(r.clients.gaveUp)],
      ['reconnect attempts / failed', `${fmt(r.clients.reconnectAttempts)} / ${fmt(r.clients.failedAttempts)}`],
      ['failed attempts by cause', counts(r.clients.attemptErrors)],
      ['connect timeouts (no welcome in 10 s) / heartbeat timeouts', `${fmt(r.clients.connectTimeouts)} / ${fmt(r.clients.heartbeatTimeouts)}`],
      ['disconnects by code and reason', counts(r.clients.disconnects)],
      [null, 'raw upgrades every 10 ms (side prober)'],
      ['while draining', counts(r.probes.upgrades.drain)],
      ['while down', counts(r.probes.upgrades.down)],
      ['first second back up', counts(r.probes.upgrades.up)],
      [null, 'event loop during the drain'],
      [
        '/healthz latency p50 / p99 / max (outside)',
        `${ms(r.probes.healthDuringDrain.p50Ms)} / ${ms(r.probes.healthDuringDrain.p99Ms)} / ${ms(r.probes.healthDuringDrain.maxMs)}`,
      ],
      ['/healthz sent / unanswered', `${fmt(r.probes.healthDuringDrain.sent)} / ${counts(r.probes.healthDuringDrain.noAnswer)}`],
      ['lag max, from /metrics (inside)', r.probes.lagDuringDrain.scrapes ? ms(r.probes.lagDuringDrain.maxMs) : 'no scrape answered during the drain'],
      [null, 'publishes'],
      ['sent / acknowledged / rejected', `${fmt(r.publishes.sent)} / ${fmt(r.publishes.acked)} / ${fmt(r.publishes.rejected)}`],
      ['rejected by reason', counts(r.publishes.rejectedBy)],
      ['rejected during the drain', counts(r.publishes.rejectedDuringDrain)],
      ['acknowledged then lost (target 0)', `${fmt(r.publishes.ackedThenLost)} (checked against ${r.publishes.lostCheckedAgainst})`],
      [
        'stored without acknowledgement',
        `${fmt(r.publishes.storedWithoutAck)}${r.publishes.storedWithoutAck ? ` (${counts(r.publishes.storedWithoutAckBy)})` : ''}`,
      ],
      ['acknowledged, reached no subscriber', fmt(r.publishes.ackedNotDelivered)],
    ]),
  );
  if (historyErrors || historyFull)
    console.log(`\nwarning: history unreadable on ${historyErrors} channels, full on ${historyFull}: the lost counts are not reliable`);
}
process.exit(0);
