// A node SIGKILLed: its users leave presence, with a `leave` each, within
// nodeTtl, and /api/nodes and /api/stats stop counting it (docs/scaling.md,
// "Nodes and ghosts"). The killed node is a real `switchboard serve` process;
// each test has a Redis of its own, so no other node shares the lease set.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { killChildren, serve } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const available = await requireService('Redis', REDIS_URL);
const NODE_TTL = 2_000;
const API_KEY = 'ops-key';
const config = {
  nodeTtl: NODE_TTL,
  apiKey: API_KEY,
  namespaces: { room: { presence: true, joinLeave: true } },
};

let redis: RedisProcess | null = null;
const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  killChildren();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await redis?.kill();
  redis = null;
});

/** A `switchboard serve` process on the test's Redis, to be SIGKILLed. */
async function doomedNode(url: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'sb-node-')), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const node = await serve(['--redis', url, '--config', file]);
  return { ...node, wsUrl: `${node.url.replace(/^http/, 'ws')}/ws` };
}

async function survivor(url: string): Promise<TestServer> {
  const server = await startServer({ ...config, broker: new RedisBroker({ url }) });
  servers.push(server);
  return server;
}

async function client(url: string): Promise<RawClient> {
  const c = await RawClient.connect(url);
  clients.push(c);
  return c;
}

async function api(server: TestServer, path: string): Promise<any> {
  const res = await fetch(`${server.url}${path}`, { headers: { Authorization: `apikey ${API_KEY}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** Clients on `node` in room:1, seen joining by `watcher`; returns their ids. */
async function membersOn(wsUrl: string, watcher: RawClient, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const member = await client(wsUrl);
    await member.ok({ type: 'subscribe', channel: 'room:1' });
    ids.push(member.welcome.payload.client);
    await watcher.next((f) => f.type === 'join' && f.payload.client === ids[i]);
  }
  return ids;
}

it.runIf(available)('sends a leave for each user of a SIGKILLed node within nodeTtl, and presence agrees', async () => {
  redis = await startRedis(await freePort());
  const a = await doomedNode(redis.url);
  const b = await survivor(redis.url);
  const watcher = await client(b.wsUrl);
  await watcher.ok({ type: 'subscribe', channel: 'room:1' });
  const onA = await membersOn(a.wsUrl, watcher, 3);
  const before = (await watcher.ok({ type: 'presence', channel: 'room:1' })).clients.map((c: any) => c.client);
  expect(before.sort()).toEqual([...onA, watcher.welcome.payload.client].sort());

  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  const leaves = await Promise.all(onA.map((id) => watcher.next((f) => f.type === 'leave' && f.payload.client === id, NODE_TTL * 3)));
  const took = Date.now() - killedAt;
  expect(took).toBeLessThanOrEqual(NODE_TTL + 500);
  expect(leaves.map((f) => f.channel)).toEqual(['room:1', 'room:1', 'room:1']);
  // One leave each: no second survivor, and no duplicate from this one.
  expect(watcher.frames.filter((f) => f.type === 'leave')).toHaveLength(3);
  expect((await watcher.ok({ type: 'presence', channel: 'room:1' })).clients.map((c: any) => c.client)).toEqual([watcher.welcome.payload.client]);
});

it.runIf(available)('counts three nodes in /api/nodes and /api/stats, then two once one is killed', async () => {
  redis = await startRedis(await freePort());
  const a = await doomedNode(redis.url);
  const b = await survivor(redis.url);
  const c = await survivor(redis.url);
  const watcher = await client(c.wsUrl);
  await watcher.ok({ type: 'subscribe', channel: 'room:1' });
  const [onA] = await membersOn(a.wsUrl, watcher, 1);
  await client(b.wsUrl);

  const { nodes } = await api(b, '/api/nodes');
  const aId = clients.find((x) => x.welcome.payload.client === onA)!.welcome.payload.server as string;
  const ids = [aId, b.server.operations.nodeId, c.server.operations.nodeId];
  expect(nodes.map((n: any) => n.node).sort()).toEqual([...ids].sort());
  expect(nodes.find((n: any) => n.node === aId)).toMatchObject({ address: new URL(a.url).host, version: expect.any(String), startedAt: expect.any(String) });
  const stats = await api(c, '/api/stats');
  expect(stats.totals.nodes).toBe(3);
  expect(stats.nodes.map((n: any) => n.node).sort()).toEqual([...ids].sort());
  // This node's figures are live; the others' are as of their last renewal.
  expect(stats.nodes.find((n: any) => n.node === c.server.operations.nodeId).connections).toBe(1);

  a.child.kill('SIGKILL');
  // The leave says A's lease lapsed and was cleaned up.
  await watcher.next((f) => f.type === 'leave' && f.payload.client === onA, NODE_TTL * 3);
  for (const server of [b, c]) {
    expect((await api(server, '/api/nodes')).nodes.map((n: any) => n.node).sort()).toEqual([b.server.operations.nodeId, c.server.operations.nodeId].sort());
    const after = await api(server, '/api/stats');
    expect(after.totals.nodes).toBe(2);
    expect(after.nodes).toHaveLength(2);
  }
  // Totals are the sums of the nodes' figures.
  const after = await api(b, '/api/stats');
  expect(after.totals.connections).toBe(after.nodes.reduce((sum: number, n: any) => sum + n.connections, 0));
});
