// bench/storm.mjs --nodes 2: a rolling deploy. Two `serve` processes on Redis
// behind nginx (the configuration of docs/scaling.md, "Behind nginx"), the
// clients and publishers connected through nginx, then each node in turn gets
// SIGTERM (--kill), is started again on its port once the old process is gone,
// and the bench waits until every client is connected and every client the
// restart dropped has its subscription back before the next node. Reported per
// restart: see docs/operations.md, "Reconnect storm".
import { fork } from 'node:child_process';
import { docsNginxConfig, requireNginx, startNginx } from '../test/helpers/nginx.mjs';
import { clientTally, countBy, counts, fmt, freePort, httpRequest, ms, now, own, quantile, readHistories, sleep, table, waitFor } from './harness.mjs';

/** The open-file limit of this box's processes (hard): nginx's workers are held under it. */
const OPEN_FILES = 20_000;

/** The retryIn hints of 1012/1013 closes (ms). */
const hints = (list) => ({ count: list.length, p50Ms: quantile(list, 0.5), maxMs: list.length ? Math.max(...list) : null });

/** When a round's last dropped client was back, against the new process's listen. */
const allBack = ({ allBackAfterListenMs: t }) =>
  t === null ? 'not reached' : t < 0 ? `${ms(-t)} before the new one listened (on the other node)` : `${ms(t)} after the new one listened`;

export async function rollingDeploy(run) {
  const { values, CLIENTS, PROCS, CHANNELS, PUBLISHERS, RATE, SIGNAL, TIMEOUT, config, configFile, apiKey, prefix, log, start, spawnSubscribers } = run;
  const binary = requireNginx();
  if (!binary) throw new Error('--nodes 2 needs nginx (apt-get install nginx)');

  // ---------------------------------------------------------------- nodes

  const nodes = [];
  for (const name of ['A', 'B']) {
    const port = await freePort();
    const args = ['--port', String(port), '--host', '127.0.0.1', '--config', configFile, '--api-key', apiKey, '--redis', values.redis];
    nodes.push({ name, port, args, base: `http://127.0.0.1:${port}`, server: await start(args) });
  }
  log(`nodes ${nodes.map((n) => `${n.name} pid ${n.server.pid} on ${n.base}`).join(', ')} (redis ${values.redis})`);

  // Each client holds two sockets in nginx (its own and the upstream one), all
  // in the worker that accepted it; `reuseport` spreads the clients evenly
  // over the workers, which stay under the per-process open-file limit.
  const workers = Number(values['nginx-workers']);
  const perWorker = Math.ceil((2 * (CLIENTS + PUBLISHERS)) / workers);
  const workerConnections = Math.min(OPEN_FILES - 1_000, Math.max(1_024, Math.ceil(perWorker * 1.5)));
  if (perWorker * 1.2 > workerConnections) {
    throw new Error(`about ${fmt(perWorker)} sockets per nginx worker is too close to the open-file limit (${fmt(OPEN_FILES)}): raise --nginx-workers`);
  }
  const nginxPort = run.port;
  const nginx = await startNginx(
    binary,
    docsNginxConfig(
      nodes.map((n) => n.port),
      nginxPort,
      'reuseport',
    ),
    nginxPort,
    {
      workers,
      workerConnections,
      openFiles: OPEN_FILES,
    },
  );
  // SIGTERM, not SIGKILL: nginx's master then stops its workers too.
  process.on('exit', () => nginx.child.exitCode === null && nginx.child.kill('SIGTERM'));
  const wsUrl = `ws://127.0.0.1:${nginxPort}${config.path ?? '/ws'}`;
  log(`nginx (${workers} workers, ${fmt(workerConnections)} connections each) on ${nginxPort}`);

  const connectionsOf = async (node) => {
    const r = await httpRequest(`${node.base}/api/stats`, { headers: { authorization: `apikey ${apiKey}` }, timeout: 10_000 });
    if (r.status !== 200) return null;
    // A node's own figures in /api/stats are live; the other nodes' come from their lease.
    return JSON.parse(r.body).nodes.find((n) => n.address === `127.0.0.1:${node.port}`)?.connections ?? null;
  };

  // -------------------------------------------------------------- clients

  const { procs, progress, total } = spawnSubscribers(wsUrl, { progressEvery: 250 });
  const ticker = setInterval(
    () => log(`subscribed ${total('ready')}, connected ${total('connected')}, waiting to be back ${total('pending')}, messages received ${total('received')}`),
    2000,
  );
  await Promise.all(procs.map((c, i) => waitFor(c, 'ready', TIMEOUT, `subscribers of process ${i}`)));
  log(`all ${CLIENTS} clients subscribed: ${(await Promise.all(nodes.map(connectionsOf))).map((c, i) => `${nodes[i].name} ${c}`).join(', ')} connections`);

  const publisher = own(
    fork(
      new URL('./storm-worker.mjs', import.meta.url).pathname,
      ['publishers', JSON.stringify({ url: wsUrl, publishers: PUBLISHERS, rate: RATE, channels: CHANNELS, prefix })],
      { stdio: 'inherit' },
    ),
  );
  await waitFor(publisher, 'ready', 30_000, 'publishers');
  log(`publishing ${RATE}/s from ${PUBLISHERS} clients; ${values.warmup} s before the first restart`);
  await sleep(Number(values.warmup) * 1000);
  if (total('received') === 0) throw new Error('no subscriber received anything: traffic is not flowing');

  // ------------------------------------------------------------- restarts

  const ask = (child, type) => (child.send({ type }), waitFor(child, type, 30_000, type));
  const rounds = [];
  for (const [r, node] of nodes.entries()) {
    const onNode = await connectionsOf(node);
    // From here each worker counts this round: who drops, when it is back.
    await Promise.all([...procs, publisher].map((c) => (c.send({ type: 'round', round: r + 1 }), waitFor(c, 'round-started', 10_000, 'round start'))));
    const termAt = now();
    node.server.child.kill(SIGNAL);
    log(`restart of ${node.name}: sent ${SIGNAL} to ${node.server.pid}, which has ${onNode} connections`);
    const exit = await Promise.race([node.server.exited, sleep(60_000).then(() => null)]);
    if (!exit) node.server.child.kill('SIGKILL');
    const exitInfo = exit ?? (await node.server.exited);
    log(`old ${node.name} exited (code ${exitInfo.code}, signal ${exitInfo.signal}) after ${ms(exitInfo.at - termAt)}`);
    node.server = await start(node.args);
    const listenAt = node.server.listeningAt;
    log(`new ${node.name} pid ${node.server.pid} listening ${ms(listenAt - exitInfo.at)} after the exit`);

    // Every client connected, and every one this restart dropped subscribed again (as the workers last said, after the listen).
    const backBy = listenAt + TIMEOUT;
    const fresh = () => progress.every((p) => p.at > listenAt);
    while (!(fresh() && total('pending') === 0 && total('connected') === CLIENTS) && now() < backBy) await sleep(50);
    const subReports = await Promise.all(procs.map((c) => ask(c, 'round-report')));
    const pubReport = await ask(publisher, 'round-report');
    const sum = (key) => subReports.reduce((s, x) => s + x[key], 0);
    const backAt = subReports.flatMap((x) => x.backAt);
    const back = backAt.filter((t) => t !== null).sort((a, b) => a - b);
    const round = {
      node: node.name,
      connectionsAtSignal: onNode,
      drainMs: exitInfo.at - termAt,
      drainCutAfter60s: !exit,
      exit: exitInfo.code ?? exitInfo.signal,
      restartMs: listenAt - exitInfo.at,
      termAt,
      listenAt,
      dropped: backAt.length,
      notBack: sum('pending'),
      connectedAtEnd: sum('connected'),
      backFromSignal: Object.fromEntries([0.5, 0.9, 0.99].map((q) => [`p${q * 100}Ms`, back.length ? quantile(back, q) - termAt : null])),
      // When the last dropped client was back, after the new process listened (negative: all were back on the other node before).
      allBackAfterListenMs: back.length === backAt.length && back.length > 0 ? back.at(-1) - listenAt : null,
      // The workers count this round's connects only.
      ...clientTally(subReports, sum('connects')),
      retryInHints: hints(subReports.flatMap((x) => x.retryIn)),
      gaveUp: sum('gaveUp'),
      resets: sum('resets'),
      offsetsMissed: sum('gaps'),
      duplicateDeliveries: sum('dups'),
      publishers: { reconnectAttempts: pubReport.attempts, disconnects: pubReport.disconnects, gaveUp: pubReport.gaveUp },
      connectionsAfter: Object.fromEntries(await Promise.all(nodes.map(async (n) => [n.name, await connectionsOf(n)]))),
    };
    rounds.push(round);
    log(`restart of ${node.name}: ${round.dropped} clients dropped, ${round.notBack} not back; 100% resubscribed ${allBack(round)}`);
  }
  await sleep(Number(values.after) * 1000);

  // ---------------------------------------------------------------- check

  publisher.send({ type: 'stop' });
  await waitFor(publisher, 'stopped', 30_000, 'publishers to settle');
  clearInterval(ticker);
  const pubReport = await ask(publisher, 'report');
  const channels = Array.from({ length: CHANNELS }, (_, c) => prefix + c);
  const histories = await readHistories(nodes[0].base, apiKey, channels, config.namespaces['']?.history?.size);
  /** "publisher:seq" -> how many times it is stored. */
  const stored = new Map();
  for (const publications of histories.byChannel.values()) {
    for (const { payload } of publications) stored.set(`${payload.p}:${payload.seq}`, (stored.get(`${payload.p}:${payload.seq}`) ?? 0) + 1);
  }

  for (const child of [...procs, publisher]) child.send({ type: 'close' });
  for (const node of nodes) node.server.child.kill('SIGTERM');
  await Promise.race([Promise.all(nodes.map((n) => n.server.exited)), sleep(5_000)]);
  const nginxErrors = nginx.errorLog();
  await nginx.stop();

  // Each publish counts in the round its answer (or rejection) came in: from one SIGTERM to the next.
  const roundOf = (at) => {
    let found = -1;
    for (const [i, round] of rounds.entries()) if (at >= round.termAt) found = i;
    return found;
  };
  const acked = pubReport.acked.map(([p, seq, , , , at]) => ({ id: `${p}:${seq}`, at }));
  const rejected = pubReport.rejected.map(([p, seq, , code, message, , at]) => ({ id: `${p}:${seq}`, code, message, at }));
  const publishes = (i) => {
    const a = acked.filter((x) => roundOf(x.at) === i);
    const rj = rejected.filter((x) => roundOf(x.at) === i);
    return {
      acked: a.length,
      rejected: rj.length,
      rejectedBy: countBy(rj, (x) => `${x.code}: ${x.message}`),
      ackedThenLost: a.filter((x) => !stored.has(x.id)).length,
      storedTwice: a.filter((x) => stored.get(x.id) > 1).length,
      storedWithoutAck: rj.filter((x) => stored.has(x.id)).length,
    };
  };
  for (const [i, round] of rounds.entries()) round.publishes = publishes(i);

  const result = {
    config: { clients: CLIENTS, procs: PROCS, channels: CHANNELS, publishers: PUBLISHERS, rate: RATE, nodes: 2, kill: SIGNAL, nginxWorkers: workers },
    rounds: rounds.map(({ termAt: _t, listenAt: _l, ...round }) => round),
    beforeTheFirstRestart: publishes(-1),
    history: { channelsUnreadable: histories.errors, channelsFull: histories.full },
    nginx: { noLiveUpstreams: nginxErrors.split('\n').filter((line) => line.includes('no live upstreams')).length },
  };

  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
    return;
  }
  console.log(
    `\nRolling deploy: ${fmt(CLIENTS)} clients in ${PROCS} processes on ${CHANNELS} channels, ${RATE} publications/s, ` +
      `two nodes on Redis behind nginx (${workers} workers), ${SIGNAL} to each in turn\n`,
  );
  const row = (name, value) => [name, result.rounds.map(value).join(' · ')];
  console.log(
    table([
      [null, `restart of ${result.rounds.map((x) => x.node).join(' · ')}`],
      row('connections on the node at the signal', (x) => fmt(x.connectionsAtSignal)),
      row('signal → old process gone', (x) => `${ms(x.drainMs)}${x.drainCutAfter60s ? ' (cut with SIGKILL after 60 s)' : ''} (exit ${x.exit})`),
      row('old gone → new one listening', (x) => ms(x.restartMs)),
      row('clients dropped / not back', (x) => `${fmt(x.dropped)} / ${fmt(x.notBack)}`),
      row('100% resubscribed', allBack),
      row(
        '50% / 90% / 99% resubscribed, after the signal',
        (x) => `${ms(x.backFromSignal.p50Ms)} / ${ms(x.backFromSignal.p90Ms)} / ${ms(x.backFromSignal.p99Ms)}`,
      ),
      row('connect timeouts (no welcome in 10 s) / heartbeat timeouts', (x) => `${fmt(x.connectTimeouts)} / ${fmt(x.heartbeatTimeouts)}`),
      row('reconnect attempts / failed', (x) => `${fmt(x.reconnectAttempts)} / ${fmt(x.failedAttempts)}`),
      row('failed attempts by cause', (x) => counts(x.attemptErrors)),
      row('disconnects by code and reason', (x) => counts(x.disconnects)),
      row('retryIn hints: count, p50 / max', (x) => `${fmt(x.retryInHints.count)}, ${ms(x.retryInHints.p50Ms)} / ${ms(x.retryInHints.maxMs)}`),
      row('gave up', (x) => fmt(x.gaveUp)),
      row('resubscribes not recovered (reset) / offsets missed / duplicate deliveries', (x) =>
        [x.resets, x.offsetsMissed, x.duplicateDeliveries].map((n) => fmt(n)).join(' / '),
      ),
      row('publishes acknowledged / rejected', (x) => `${fmt(x.publishes.acked)} / ${fmt(x.publishes.rejected)}`),
      row('rejected by reason', (x) => counts(x.publishes.rejectedBy)),
      row('acknowledged then lost / stored twice (target 0 / 0)', (x) => `**${fmt(x.publishes.ackedThenLost)} / ${fmt(x.publishes.storedTwice)}**`),
      row('stored without acknowledgement', (x) => fmt(x.publishes.storedWithoutAck)),
      row('connections after (A / B)', (x) => `${fmt(x.connectionsAfter.A)} / ${fmt(x.connectionsAfter.B)}`),
    ]),
  );
  const b = result.beforeTheFirstRestart;
  console.log(`\nbefore the first restart: ${fmt(b.acked)} publishes acknowledged, ${fmt(b.rejected)} rejected, ${fmt(b.ackedThenLost)} lost`);
  if (histories.errors || histories.full) {
    console.log(`warning: history unreadable on ${histories.errors} channels, full on ${histories.full}: the lost counts are not reliable`);
  }
  if (result.nginx.noLiveUpstreams) console.log(`warning: nginx answered "no live upstreams" ${result.nginx.noLiveUpstreams} times`);
}
