// A rolling deploy: two `switchboard serve` nodes on a Redis of the test's
// own, behind nginx with the configuration of docs/scaling.md ("Behind
// nginx"). SDK clients connect through nginx, which spreads them over both
// nodes, each subscribed to three of four channels, while one more SDK client
// publishes numbered payloads on every channel through nginx without pause.
// Each node in turn gets SIGTERM (a paced drain over its drainWindow: 1012
// with a retryIn hint, docs/operations.md) and a new process is started on
// its port once the old one has exited. Then every client is connected and
// resubscribed, every subscriber has every acknowledged publication exactly
// once and in order with no reset, no publish was rejected, and no client saw
// an error event or a close other than 1012, 1013, or 1006 (a connection lost
// in the restart).
import { afterEach, expect, it } from 'vitest';
import type { SwitchboardClient } from '../../src/client/client.js';
import { connect } from '../../src/client/node.js';
import { killChildren, type Running } from '../helpers/cli.js';
import { docsNginxConfig, requireNginx, startNginx, type Nginx } from '../helpers/nginx.mjs';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { configFile, selfStats, serveNode } from '../helpers/serve-nodes.js';
import { requireCommand } from '../helpers/services.js';
import { waiters } from '../helpers/until.js';

const nginxBinary = requireNginx();
const haveRedis = requireCommand('redis-server', 'apt-get install redis-server');
const API_KEY = 'rolling-deploy-key';
const CLIENTS = 40;
const CHANNELS = ['deploy-0', 'deploy-1', 'deploy-2', 'deploy-3'];
/** Publications each channel gets after a restarted node listens before the next step: publishing went on. */
const AFTER = 5;
/**
 * Pause between one channel's publishes: load shaping (about 80 publications
 * a second in all, each to 30 subscribers, under the per-connection rate
 * limit), not synchronisation. Nothing waits on it.
 */
const PACE_MS = 50;

let redis: RedisProcess | null = null;
let nginx: Nginx | null = null;
const clients: SwitchboardClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await nginx?.stop();
  nginx = null;
  killChildren();
  await redis?.kill();
  redis = null;
});

const { until, wake } = waiters();

interface Sub {
  channel: string;
  /** The payloads' numbers, and the frames' offsets, as received. */
  got: number[];
  offsets: number[];
  resets: number;
  /** The client's connection (its `generation`) on which this subscription was last answered. */
  generation: number;
}
interface Watched {
  name: string;
  client: SwitchboardClient;
  /** `connected` events so far. */
  generation: number;
  /** The node of the current (or last) connection, from its welcome. */
  server: string | null;
  closes: Array<{ code: number | undefined; reason: string | undefined; during: string }>;
  errors: string[];
  subs: Sub[];
}

/** What the test is doing, for each close a client records. */
let phase = 'start';

function watch(name: string, client: SwitchboardClient): Watched {
  clients.push(client);
  const w: Watched = { name, client, generation: 0, server: null, closes: [], errors: [], subs: [] };
  client.on('connected', (welcome) => {
    w.generation++;
    w.server = welcome.server;
    wake();
  });
  client.on('disconnected', ({ code, reason }) => {
    w.closes.push({ code, reason, during: phase });
    wake();
  });
  client.on('closed', ({ code, reason }) => {
    w.errors.push(`closed for good: ${code} ${reason}`);
    wake();
  });
  client.on('error', (error) => {
    w.errors.push(`error event: ${error.code}: ${error.message}`);
    wake();
  });
  return w;
}

function subscribe(w: Watched, channel: string): Sub {
  const s: Sub = { channel, got: [], offsets: [], resets: 0, generation: 0 };
  w.subs.push(s);
  const sub = w.client.subscribe(channel, (payload, frame) => {
    s.got.push((payload as { i: number }).i);
    s.offsets.push(frame.offset!);
    wake();
  });
  sub.on('subscribed', () => {
    s.generation = w.generation;
    wake();
  });
  sub.on('reset', () => s.resets++);
  sub.on('error', (error) => w.errors.push(`subscription to ${channel} refused: ${error.code}: ${error.message}`));
  return s;
}

it.runIf(nginxBinary && haveRedis)(
  'restarts each of two nodes behind nginx with SIGTERM while publishing: every client back, every publication once and in order, no publish rejected',
  async () => {
    redis = await startRedis(await freePort());
    const config = configFile({
      apiKey: API_KEY,
      trustProxy: ['127.0.0.1'],
      namespaces: { '': { history: { size: 5_000, ttl: 300_000 } } },
      // The paced drain, short enough for a test: closes spread over a second.
      drainWindow: 1_000,
    });
    const [portA, portB, portNginx] = [await freePort(), await freePort(), await freePort()];
    const nodes: Array<{ name: string; port: number; running: Running & { url: string } }> = [
      { name: 'A', port: portA, running: await serveNode(portA, redis.url, config) },
      { name: 'B', port: portB, running: await serveNode(portB, redis.url, config) },
    ];
    nginx = await startNginx(nginxBinary!, docsNginxConfig([portA, portB], portNginx), portNginx);
    const viaNginx = `ws://127.0.0.1:${portNginx}/ws`;

    // Subscribers through nginx, which spreads them over both nodes: client k on every channel but channel k % 4.
    const watched: Watched[] = [];
    for (let k = 0; k < CLIENTS; k++) {
      const w = watch(`client ${k}`, connect(viaNginx));
      for (const channel of CHANNELS) if (channel !== CHANNELS[k % CHANNELS.length]) subscribe(w, channel);
      watched.push(w);
    }
    const subs = watched.flatMap((w) => w.subs);
    const publisher = watch('publisher', connect(viaNginx));
    const everyone = [...watched, publisher];
    await until(() => everyone.every((w) => w.client.state === 'connected') && subs.every((s) => s.generation === 1), 'every client subscribed');

    // One publish at a time per channel, each awaited: the order they are acknowledged in is the order of the channel.
    const acked = new Map(CHANNELS.map((channel) => [channel, 0]));
    const rejected: string[] = [];
    const wrongOffsets: string[] = [];
    let stop = false;
    const publishing = CHANNELS.map(async (channel) => {
      for (let i = 1; !stop; i++) {
        try {
          const { offset } = await publisher.client.publish(channel, { i });
          // A fresh Redis: the channel's offsets are the payloads' numbers, also when a resend is answered with the first write's.
          if (offset !== i) wrongOffsets.push(`${channel} #${i} stored at offset ${offset}`);
          acked.set(channel, i);
        } catch (error) {
          rejected.push(`${channel} #${i}: ${(error as Error).message}`);
          return;
        } finally {
          wake();
        }
        await new Promise((resolve) => setTimeout(resolve, PACE_MS));
      }
    });
    /** Whether each subscription has what was acknowledged on its channel when `mark` was taken, and `more` after. */
    const caughtUp = (mark: Map<string, number>, more = 0) => subs.every((s) => s.got.length >= mark.get(s.channel)! + more);
    const healthy = () => {
      if (rejected.length > 0) throw new Error(`publishes rejected: ${rejected.join('; ')}`);
      if (everyone.some((w) => w.errors.length > 0)) throw new Error(`client errors: ${JSON.stringify(everyone.flatMap((w) => w.errors))}`);
      return true;
    };
    await until(() => healthy() && caughtUp(new Map(CHANNELS.map((c) => [c, 0])), AFTER), 'traffic on every subscription');

    const rounds: string[] = [];
    for (const node of nodes) {
      const { node: id } = await selfStats(node.running.url, API_KEY);
      const onIt = everyone.filter((w) => w.server === id).map((w) => w.name);
      // Both nodes hold clients: nginx spread them at the start, and the restart of A left B its own.
      expect(onIt.length, `clients on node ${node.name}`).toBeGreaterThan(0);
      const generations = new Map(everyone.map((w) => [w, w.generation]));

      phase = `restart of ${node.name}`;
      const termAt = performance.now();
      node.running.child.kill('SIGTERM');
      const exit = await node.running.exited;
      const exitAt = performance.now();
      expect(exit.code, `node ${node.name}'s exit after SIGTERM: ${exit.stderr}`).toBe(0);
      node.running = await serveNode(node.port, redis.url, config);
      const listenAt = performance.now();
      const ackedAtListen = new Map(acked);

      // Every client connected and resubscribed on its current connection, and past what was acknowledged when the new node listened.
      await until(
        () =>
          healthy() &&
          everyone.every((w) => w.client.state === 'connected' && w.subs.every((s) => s.generation === w.generation)) &&
          caughtUp(ackedAtListen, AFTER),
        `every client back after the restart of ${node.name}`,
      );
      phase = `after the restart of ${node.name}`;
      // Exactly the restarted node's clients reconnected (through nginx, to either node).
      expect(
        everyone.filter((w) => w.generation > generations.get(w)!).map((w) => w.name),
        `clients that reconnected in the restart of ${node.name}`,
      ).toEqual(onIt);
      rounds.push(
        `${node.name}: ${onIt.length} clients moved; SIGTERM to exit ${Math.round(exitAt - termAt)} ms, ` +
          `exit to listening ${Math.round(listenAt - exitAt)} ms, listening to all back ${Math.round(performance.now() - listenAt)} ms`,
      );
    }

    stop = true;
    await Promise.all(publishing);
    await until(() => healthy() && caughtUp(acked), 'every acknowledged publication everywhere');

    const closes = everyone.flatMap((w) => w.closes.map((c) => ({ client: w.name, ...c })));
    // What the clients saw, by code and reason, the retryIn hints as their range.
    const hints: number[] = [];
    const byCode = new Map<string, number>();
    for (const c of closes) {
      const retryIn = /^\{"retryIn":(\d+)\}$/.exec(c.reason ?? '');
      if (retryIn) hints.push(Number(retryIn[1]));
      const key = `${c.code} ${retryIn ? 'retryIn' : (c.reason ?? '')}`.trim();
      byCode.set(key, (byCode.get(key) ?? 0) + 1);
    }
    const seen = `${JSON.stringify(Object.fromEntries(byCode))}${hints.length ? `, retryIn ${Math.min(...hints)}-${Math.max(...hints)} ms` : ''}`;
    console.log(
      `rolling deploy: ${[...acked.values()].reduce((a, b) => a + b, 0)} publications acknowledged over ${CHANNELS.length} channels; ` +
        `${rounds.join('; ')}; closes seen: ${seen}`,
    );

    expect(rejected).toEqual([]);
    expect(wrongOffsets).toEqual([]);
    expect(everyone.flatMap((w) => w.errors)).toEqual([]);
    for (const s of subs) {
      const all = Array.from({ length: acked.get(s.channel)! }, (_, k) => k + 1);
      expect(s.got, `payloads on ${s.channel}`).toEqual(all);
      expect(s.offsets, `offsets on ${s.channel}`).toEqual(all);
      expect(s.resets).toBe(0);
    }
    // The only closes: the drain's 1012, an overloaded node's 1013, or a connection lost (1006, no reason: not a
    // connect or heartbeat timeout) in a restart; none outside one.
    const unexpected = closes.filter((c) => !(c.code === 1012 || c.code === 1013 || (c.code === 1006 && !c.reason)) || !c.during.startsWith('restart of'));
    expect(unexpected, `closes seen: ${seen}`).toEqual([]);
    // A restart is no reason to give up on WebSockets: nobody fell back to HTTP streaming.
    expect(everyone.filter((w) => w.client.transport !== 'websocket').map((w) => w.name)).toEqual([]);
    expect(nginx.errorLog()).not.toContain('no live upstreams');
  },
  60_000,
);
