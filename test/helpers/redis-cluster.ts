// A three-master Redis Cluster of the test's own, on free ports, built by
// hand (ADDSLOTSRANGE and MEET) so no redis-cli is needed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { RedisAddress } from '../../src/brokers/redis-connection.js';
import { freePort } from './ports.js';

export interface RedisCluster {
  nodes: RedisAddress[];
  /** SIGKILL the master on `port`. */
  kill: (port: number) => Promise<void>;
  /** Start the master on `port` again (same node id and slots, no data); resolves once every node says the cluster is ok. */
  restart: (port: number) => Promise<void>;
  close: () => Promise<void>;
}

/** Start a redis-server with these extra arguments; resolves once it accepts connections. */
export async function spawnRedis(port: number, args: string[]): Promise<{ child: ChildProcess; kill: () => Promise<void> }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('Ready to accept connections') || out.includes('Sentinel ID is')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  child.stdout!.resume();
  return {
    child,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Start a redis-server on a port that was free a moment ago. Another test
 * running in parallel may take that port first: then try another.
 */
export async function spawnRedisOnFreePort(args: (port: number) => string[]): Promise<{ port: number; server: Awaited<ReturnType<typeof spawnRedis>> }> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, server: await spawnRedis(port, args(port)) };
    } catch (error) {
      if (attempt >= 5 || !(error as Error).message.includes('Address already in use')) throw error;
    }
  }
}

/** Poll `check` until it answers true, or fail after `ms`. */
export async function until(what: string, check: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sb-cluster-'));
  const clusterArgs = (port: number) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    '2000',
    '--dir',
    dir,
  ];
  const start = (port: number) => spawnRedis(port, clusterArgs(port));
  const started = await Promise.all([0, 1, 2].map(() => spawnRedisOnFreePort(clusterArgs)));
  const ports = started.map((s) => s.port);
  const servers = new Map(started.map((s) => [s.port, s.server] as const));
  const admins = ports.map((port) => {
    const admin = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    admin.on('error', () => {}); // a killed node is expected
    return admin;
  });
  const close = async () => {
    admins.forEach((admin) => admin.disconnect());
    await Promise.all([...servers.values()].map((server) => server.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  // Every node must see every slot covered before a client's slot map is right.
  const allOk = () =>
    until('cluster state ok on every node', async () => {
      const infos = await Promise.all(admins.map((admin) => admin.call('CLUSTER', 'INFO') as Promise<string>));
      return infos.every((info) => info.includes('cluster_state:ok') && info.includes('cluster_known_nodes:3'));
    });
  try {
    // 16384 slots in three ranges, one per master.
    const ranges = [
      [0, 5460],
      [5461, 10922],
      [10923, 16383],
    ];
    await Promise.all(admins.map((admin, i) => admin.call('CLUSTER', 'ADDSLOTSRANGE', ...ranges[i]!.map(String))));
    for (const port of ports.slice(1)) await admins[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(port));
    await allOk();
  } catch (error) {
    await close();
    throw error;
  }
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    kill: async (port) => {
      await servers.get(port)?.kill();
    },
    restart: async (port) => {
      servers.set(port, await start(port));
      await allOk();
    },
    close,
  };
}
