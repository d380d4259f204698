// A Redis Sentinel set of the test's own, on free ports: one master, one
// replica and three sentinels (`redis-server --sentinel`), ready once every
// sentinel knows the replica and a quorum (polled, not slept on).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisAddress } from '../../src/brokers/redis-connection.js';
import { freePort } from './ports.js';
import { spawnRedisOnFreePort, until } from './redis-cluster.js';

export const MASTER_NAME = 'sbtest';

export interface RedisSentinelSet {
  sentinels: RedisAddress[];
  name: string;
  /** The ports of the master and the replica as started. */
  started: { master: number; replica: number };
  /** The port the sentinels name as master now. */
  masterPort: () => Promise<number>;
  /** SIGKILL the process on `port` (master or replica). */
  kill: (port: number) => Promise<void>;
  /** SIGSTOP the process on `port`: it keeps its connections and answers nothing. */
  pause: (port: number) => void;
  /** SIGCONT after pause(). */
  resume: (port: number) => void;
  /** Resolves once every sentinel (but the one on `except`, say a paused one) names another master than `from`. */
  failedOver: (from: number, except?: number) => Promise<void>;
  /** SENTINEL FAILOVER: promote the replica now, without waiting for the master to be judged down. */
  failover: () => Promise<void>;
  close: () => Promise<void>;
}

interface SentinelSpec {
  port: number;
  id: string;
}

function startSentinel(
  dir: string,
  me: SentinelSpec,
  peers: SentinelSpec[],
  masterPort: number,
  replicaPort: number,
): Promise<{ child: ChildProcess; kill: () => Promise<void> }> {
  // Sentinel rewrites its config file, so each gets its own.
  const { port } = me;
  const file = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      // A dead master is judged down after 1 s, so a failover takes a few seconds;
      // an election that splits is retried after twice the failover timeout.
      `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
      `sentinel failover-timeout ${MASTER_NAME} 3000`,
      // Told of each other and the replica up front, instead of discovering them over seconds.
      `sentinel myid ${me.id}`,
      `sentinel known-replica ${MASTER_NAME} 127.0.0.1 ${replicaPort}`,
      ...peers.map((peer) => `sentinel known-sentinel ${MASTER_NAME} 127.0.0.1 ${peer.port} ${peer.id}`),
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [file, '--sentinel'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (chunk: Buffer) => {
      out += String(chunk);
      if (!out.includes('Sentinel ID is')) return;
      child.stdout!.off('data', onData);
      child.stdout!.resume();
      resolve({
        child,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis sentinel exited with ${code}: ${out}`)));
  });
}

export async function startRedisSentinel(): Promise<RedisSentinelSet> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-sentinel-'));
  let master = 0;
  let replica: number;
  let sentinelPorts: number[];
  const processes = new Map<number, { child: ChildProcess; kill: () => Promise<void> }>();
  const admins: Redis[] = [];
  const close = async () => {
    admins.forEach((admin) => admin.disconnect());
    await Promise.all([...processes.values()].map((p) => p.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  const admin = (port: number) => {
    const redis = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
    redis.on('error', () => {}); // a killed master is expected
    admins.push(redis);
    return redis;
  };
  try {
    // Diskless sync at once (the default waits 5 s for more replicas); either may be the master later.
    const replication = ['--dir', dir, '--repl-diskless-sync-delay', '0'];
    const first = await spawnRedisOnFreePort(() => replication);
    master = first.port;
    processes.set(master, first.server);
    const second = await spawnRedisOnFreePort(() => [...replication, '--replicaof', '127.0.0.1', String(master)]);
    replica = second.port;
    processes.set(replica, second.server);
    // In sync, and online for the master (ROLE lists only online replicas, and so WAITs only for them).
    const masterAdmin = admin(master);
    await until('the replica online', async () => ((await masterAdmin.call('ROLE')) as [string, number, unknown[]])[2].length === 1);
    // Each sentinel's config names the others' ports, so when a parallel test
    // takes one of the free ports first, the three start again on new ones.
    for (let attempt = 1; ; attempt++) {
      sentinelPorts = [await freePort(), await freePort(), await freePort()];
      const specs = sentinelPorts.map((port) => ({ port, id: randomBytes(20).toString('hex') }));
      try {
        for (const spec of specs) {
          processes.set(
            spec.port,
            await startSentinel(
              dir,
              spec,
              specs.filter((peer) => peer !== spec),
              master,
              replica,
            ),
          );
        }
        break;
      } catch (error) {
        for (const spec of specs) {
          await processes.get(spec.port)?.kill();
          processes.delete(spec.port);
        }
        if (attempt === 3) throw error;
      }
    }
    const sentinelAdmins = sentinelPorts.map(admin);
    await until('every sentinel to know the replica and a quorum', async () => {
      const ready = await Promise.all(
        sentinelAdmins.map(async (sentinel) => {
          const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', MASTER_NAME)) as string[][];
          const quorum = (await sentinel.call('SENTINEL', 'CKQUORUM', MASTER_NAME).catch(() => '')) as string;
          const peers = (await sentinel.call('SENTINEL', 'SENTINELS', MASTER_NAME)) as unknown[];
          return replicas.length === 1 && replicas[0]!.includes('slave') && quorum.startsWith('OK') && peers.length === 2;
        }),
      );
      return ready.every(Boolean);
    });
    const masterPort = async () => Number(((await sentinelAdmins[0]!.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1]);
    return {
      sentinels: sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      name: MASTER_NAME,
      started: { master, replica },
      masterPort,
      kill: async (port) => {
        await processes.get(port)?.kill();
      },
      pause: (port) => {
        processes.get(port)?.child.kill('SIGSTOP');
      },
      resume: (port) => {
        processes.get(port)?.child.kill('SIGCONT');
      },
      failedOver: (from, except) =>
        until(
          'the sentinels to name a new master',
          async () => {
            const asked = sentinelAdmins.filter((_, i) => sentinelPorts[i] !== except);
            const named = await Promise.all(
              asked.map(async (s) => Number(((await s.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME)) as string[])[1])),
            );
            return named.every((port) => port !== from);
          },
          30_000,
        ),
      failover: async () => {
        await sentinelAdmins[0]!.call('SENTINEL', 'FAILOVER', MASTER_NAME);
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
