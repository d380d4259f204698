// `switchboard serve --workers 2` as a user runs it (docs/scaling.md,
// "Workers"): two worker processes share the port, each a node, with the
// in-memory broker held by the primary (or Redis). A publication made on one
// worker reaches subscribers on the other; a SIGKILLed worker's clients recover
// on the other with nothing missing or twice and the worker is replaced;
// /metrics is one view of all of them; SIGTERM drains them all.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type SwitchboardClient } from '../../src/client/node.js';
import { killChildren, run, serve } from '../helpers/cli.js';
import type { RawClient } from '../helpers/raw-client.js';
import { clientPerWorker } from '../helpers/workers.js';
import { processTree } from '../../src/cli/bench/proc-stat.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const API_KEY = 'workers-key';
const config = {
  apiKey: API_KEY,
  nodeTtl: 2_000,
  drainTimeout: 2_000,
  namespaces: { room: { history: { size: 1_000, ttl: 600_000 }, presence: true, joinLeave: true } },
};

const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  killChildren();
});

async function cluster(args: string[] = [], env: Record<string, string> = {}) {
  const file = join(mkdtempSync(join(tmpdir(), 'sb-workers-')), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const running = await serve(['--workers', '2', '--config', file, ...args], env);
  return { ...running, wsUrl: `${running.url.replace(/^http/, 'ws')}/ws` };
}

/** One client on each worker. */
const clientsOnBothWorkers = async (wsUrl: string) => (await clientPerWorker(wsUrl, 2, clients)) as [RawClient, RawClient];

/** The SDK client's next welcome (its first connect, or a reconnect). */
function nextWelcome(client: SwitchboardClient): Promise<{ server: string; client: string }> {
  return new Promise((resolve) => {
    const off = client.on('connected', (welcome) => {
      off();
      resolve(welcome);
    });
  });
}

/**
 * fetch, once more on a new connection if the first was reset: a kept-alive
 * connection may have been held by the worker a test killed. (Publishes carry
 * an idempotency key, so a retry cannot store twice.)
 */
async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return fetch(url, init);
  }
}

async function api(url: string, path: string, body?: unknown): Promise<any> {
  const res = await request(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `apikey ${API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** A sample's value in Prometheus text, summed over its label sets. */
function sample(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** The primary's worker processes, once there are `count` of them and none is in `old`. */
async function freshWorkers(primary: number, old: number[] = []): Promise<number[]> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const workers = processTree(primary).slice(1);
    if (workers.some((pid) => !old.includes(pid))) return workers;
    if (Date.now() > deadline) throw new Error('no new worker was started');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The JSON log lines a process printed with this message. */
function logged(stdout: string, msg: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg);
}

/** Resolves once no process has this pid (it is not our child, so there is no exit event to wait for). */
async function exitOf(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > deadline) throw new Error(`process ${pid} is still running`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Scrape /metrics until `check` holds (the primary replaces a worker asynchronously). */
async function metricsUntil(url: string, check: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await request(`${url}/metrics`)).text();
    if (check(text)) return text;
    if (Date.now() > deadline) throw new Error(`metrics never matched:\n${text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('serve --workers 2 (in-memory broker in the primary)', () => {
  it('delivers a publication made on one worker to a subscriber on the other, and shows one cluster', async () => {
    const { url, wsUrl } = await cluster();
    const [a, b] = await clientsOnBothWorkers(wsUrl);
    await a.ok({ type: 'subscribe', channel: 'room:x' });
    const joined = a.next((f) => f.type === 'join' && f.channel === 'room:x' && f.payload.client === b.welcome.payload.client);
    await b.ok({ type: 'subscribe', channel: 'room:x' });
    await joined;

    expect(await b.ok({ type: 'publish', channel: 'room:x', payload: { n: 1 } })).toEqual({ offset: 1 });
    const message = await a.next((f) => f.type === 'message' && f.channel === 'room:x');
    expect(message).toMatchObject({ offset: 1, payload: { n: 1 }, from: { client: b.welcome.payload.client } });
    // One history and one presence list, whichever worker answers.
    expect((await a.ok({ type: 'history', channel: 'room:x' })).publications).toHaveLength(1);
    expect((await a.ok({ type: 'presence', channel: 'room:x' })).clients).toHaveLength(2);

    const { nodes } = await api(url, '/api/nodes');
    expect(nodes.map((n: { node: string }) => n.node).sort()).toEqual([a.welcome.payload.server, b.welcome.payload.server].sort());
    expect(new Set(nodes.map((n: { pid: number }) => n.pid)).size).toBe(2);
    // /metrics merges every worker's, whichever worker serves the scrape.
    const text = await metricsUntil(url, (t) => sample(t, 'switchboard_connections') === 2);
    expect(sample(text, 'switchboard_workers')).toBe(2);
    expect(sample(text, 'switchboard_subscriptions')).toBe(2);
    // Not summed: 1 while every worker's broker is up.
    expect(sample(text, 'switchboard_broker_up')).toBe(1);
  });

  it('recovers a SIGKILLed worker’s clients on the other with nothing missing or twice, and replaces the worker', async () => {
    const { url, wsUrl } = await cluster();
    const [watcher] = await clientsOnBothWorkers(wsUrl);
    await watcher.ok({ type: 'subscribe', channel: 'room:r' });

    // An SDK client on the worker that is not the watcher's.
    let client = connect(wsUrl, { reconnect: { initialDelay: 5, maxDelay: 50 } });
    const firstWelcome = await nextWelcome(client);
    if (firstWelcome.server === watcher.welcome.payload.server) {
      client.close();
      client = connect(wsUrl, { reconnect: { initialDelay: 5, maxDelay: 50 } });
    }
    const welcome = firstWelcome.server === watcher.welcome.payload.server ? await nextWelcome(client) : firstWelcome;
    expect(welcome.server).not.toBe(watcher.welcome.payload.server);
    const received: number[] = [];
    let allArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (allArrived = resolve));
    const subscription = client.subscribe('room:r', (payload) => {
      received.push((payload as { n: number }).n);
      if (received.length === 40) allArrived();
    });
    await subscription.ready;
    for (let n = 1; n <= 10; n++) await api(url, '/api/publish', { channel: 'room:r', payload: { n }, idempotencyKey: `n${n}` });

    const { nodes } = await api(url, '/api/nodes');
    const doomed = nodes.find((n: { node: string }) => n.node === welcome.server);
    const framesBefore = sample(await metricsUntil(url, () => true), 'switchboard_frames_received_total');
    const left = watcher.next((f) => f.type === 'leave' && f.payload.client === welcome.client, 10_000);
    const reconnected = nextWelcome(client);
    process.kill(doomed.pid, 'SIGKILL');
    // Published while the client is away; some may land before it notices.
    for (let n = 11; n <= 30; n++) await api(url, '/api/publish', { channel: 'room:r', payload: { n }, idempotencyKey: `n${n}` });
    // The survivor announces that the dead worker's client left presence.
    await left;

    const back = await reconnected;
    expect(back.server).not.toBe(welcome.server);
    for (let n = 31; n <= 40; n++) await api(url, '/api/publish', { channel: 'room:r', payload: { n }, idempotencyKey: `n${n}` });
    await arrived;
    expect(received).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    client.close();

    const text = await metricsUntil(url, (t) => sample(t, 'switchboard_workers') === 2 && sample(t, 'switchboard_worker_restarts_total') === 1);
    expect(sample(text, 'switchboard_worker_restarts_total')).toBe(1);
    // The dead worker's counts stay in the sums: a counter never goes back (Prometheus would see a reset).
    expect(sample(text, 'switchboard_frames_received_total')).toBeGreaterThanOrEqual(framesBefore);
    const after = (await api(url, '/api/nodes')).nodes.map((n: { node: string }) => n.node);
    expect(after).not.toContain(welcome.server);
  });

  it('treats a worker whose event loop is stuck past nodeTtl as dead: its presence leaves, and it is killed and replaced', async () => {
    const { url, wsUrl } = await cluster();
    const [watcher, stuck] = await clientsOnBothWorkers(wsUrl);
    await watcher.ok({ type: 'subscribe', channel: 'room:s' });
    await stuck.ok({ type: 'subscribe', channel: 'room:s' });
    const { nodes } = await api(url, '/api/nodes');
    const frozen = nodes.find((n: { node: string }) => n.node === stuck.welcome.payload.server);
    const left = watcher.next((f) => f.type === 'leave' && f.payload.client === stuck.welcome.payload.client, 10_000);
    // SIGSTOP: alive, holding its sockets, renewing nothing.
    process.kill(frozen.pid, 'SIGSTOP');
    await left;
    const text = await metricsUntil(url, (t) => sample(t, 'switchboard_worker_restarts_total') === 1 && sample(t, 'switchboard_workers') === 2);
    expect(sample(text, 'switchboard_workers')).toBe(2);
    // It was killed (SIGKILL works on a stopped process), so its clients are cut and reconnect elsewhere.
    expect((await stuck.closed).code).toBe(1006);
  });

  it('restarts workers that keep dying young after a growing delay', async () => {
    const server = await cluster();
    const primary = server.child.pid!;
    let workers = processTree(primary).slice(1);
    let victim = workers[0]!;
    for (let death = 1; death <= 3; death++) {
      process.kill(victim, 'SIGKILL');
      const now = await freshWorkers(primary, workers);
      victim = now.find((pid) => !workers.includes(pid))!;
      workers = now;
      // Its replacement listening, well within 5 s of its start: it dies young next.
      await metricsUntil(server.url, (t) => sample(t, 'switchboard_workers') === 2 && sample(t, 'switchboard_worker_restarts_total') === death);
    }
    const delays = logged(server.stdout(), 'worker exited; starting another').map((line) => line.restartInMs);
    expect(delays).toEqual([100, 200, 400]);
  });

  it('drains a worker that was still starting when SIGTERM came', async () => {
    const server = await cluster([], { SWITCHBOARD_LOG_LEVEL: 'info' });
    const workers = processTree(server.child.pid!).slice(1);
    process.kill(workers[0]!, 'SIGKILL');
    await freshWorkers(server.child.pid!, workers);
    // The replacement is loading: the drain sent now reaches it before its listener does.
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    const drained = logged(server.stdout(), 'draining').map((line) => line.worker);
    expect(drained).toContain(3);
  });

  it('drains every worker on SIGTERM: clients on both get 1012, and the primary exits 0', async () => {
    const server = await cluster();
    const [a, b] = await clientsOnBothWorkers(server.wsUrl);
    server.child.kill('SIGTERM');
    expect((await a.closed).code).toBe(1012);
    expect((await b.closed).code).toBe(1012);
    const exit = await server.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
  });

  it('stops every worker when the primary is SIGKILLed: no worker is left holding the port with a dead broker', async () => {
    const server = await cluster();
    const [a, b] = await clientsOnBothWorkers(server.wsUrl);
    const pids: number[] = (await api(server.url, '/api/nodes')).nodes.map((n: { pid: number }) => n.pid);
    server.child.kill('SIGKILL');
    // Node's cluster exits a worker at once when its primary is gone: the clients see the TCP close.
    expect((await a.closed).code).toBe(1006);
    expect((await b.closed).code).toBe(1006);
    for (const pid of pids) await exitOf(pid);
  });

  it('refuses a bad workers setting with exit 2 and a message naming it', async () => {
    const exit = await run(['serve', '--port', '0', '--workers', 'many']).exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain('--workers');
  });

  it('exits 1 with the workers’ reason when they cannot listen (the port is taken)', async () => {
    const taken = createNetServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const exit = await run(['serve', '--port', String(port), '--workers', '2']).exited;
      expect(exit.code).toBe(1);
      expect(exit.stderr).toContain('EADDRINUSE');
    } finally {
      taken.close();
    }
  });
});

const redis = await requireService('Redis', REDIS_URL);

describe.runIf(redis)('serve --workers 2 --redis', () => {
  it('delivers across workers through Redis', async () => {
    const { wsUrl } = await cluster(['--redis', REDIS_URL]);
    const [a, b] = await clientsOnBothWorkers(wsUrl);
    const channel = `room:redis-${Date.now()}`;
    await a.ok({ type: 'subscribe', channel });
    await b.ok({ type: 'publish', channel, payload: 'across' });
    expect(await a.next((f) => f.type === 'message' && f.channel === channel)).toMatchObject({ payload: 'across' });
  });
});
