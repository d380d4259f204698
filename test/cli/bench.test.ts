// `switchboard bench` with a few connections against a real server: each
// scenario's counts and percentiles, CPU beside the server's, and the server
// limits it runs into, named.
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, serve, tool } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { BenchResult } from '../../src/cli/bench/report.js';

const servers: TestServer[] = [];
afterEach(async () => {
  killChildren();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const RAISED = { messagesPerSecond: 1_000_000, burst: 1_000_000 };

async function bench(limits: Record<string, number>, args: string[]): Promise<BenchResult> {
  const srv = await startServer({ limits });
  servers.push(srv);
  // The server runs in this process, so its CPU is this process's.
  const { code, stdout, stderr } = await tool(['bench', srv.wsUrl, '--json', '--server-pid', String(process.pid), '-d', '1', '-w', '0.3', ...args]).exited;
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as BenchResult;
}

it('fanout: every subscriber receives every publication, with latency and CPU of both sides', async () => {
  const r = await bench(RAISED, ['-s', 'fanout', '-n', '20', '--workers', '2', '--addresses', '2']);
  expect(r.connections).toEqual({ asked: 20, connected: 20, open: 20, failed: 0 });
  expect(r.count).toBeGreaterThan(0);
  // Deliveries in the window are about publications × subscribers (the window edges cut a few).
  expect(r.count / r.published!).toBeGreaterThan(15);
  expect(r.count / r.published!).toBeLessThan(25);
  expect(r.latency_us.n).toBe(r.count);
  expect(r.latency_us.p50).toBeGreaterThan(0);
  expect(r.latency_us.p99).toBeGreaterThanOrEqual(r.latency_us.p50!);
  expect(r.generator.processes).toBe(3);
  expect(r.server?.cpu_pct).toBeGreaterThan(0);
  expect(r.server?.cpu_us_per_message).toBeGreaterThan(0);
  expect(r.rate_limited).toBe(0);
});

it('broadcast: each publication reaches every subscriber before the next, with first, median and last receipt', async () => {
  const r = await bench(RAISED, ['-s', 'broadcast', '-n', '30', '--workers', '2', '--rounds', '3']);
  expect(r.connections).toEqual({ asked: 30, connected: 30, open: 30, failed: 0 });
  expect(r.published).toBe(3);
  expect(r.rounds).toHaveLength(3);
  for (const round of r.rounds!) {
    expect(round.deliveries).toBe(30);
    expect(round.first_us).toBeGreaterThan(0);
    expect(round.p50_us).toBeGreaterThanOrEqual(round.first_us!);
    expect(round.last_us).toBeGreaterThanOrEqual(round.p50_us!);
  }
});

it('echo counts round trips; connect counts connects', async () => {
  const echo = await bench(RAISED, ['-s', 'echo', '-n', '5']);
  expect(echo.unit).toBe('round trips/s');
  expect(echo.count).toBeGreaterThan(0);
  expect(echo.latency_us.p50).toBeGreaterThan(0);
  const connect = await bench(RAISED, ['-s', 'connect', '-n', '3']);
  expect(connect.unit).toBe('connects/s');
  expect(connect.count).toBeGreaterThan(0);
  expect(connect.failures).toEqual({});
});

it('idle: says which limit refused connections (connectionsPerIp), and spreading over addresses gets past it', async () => {
  const limited = await bench({ connectionsPerIp: 10 }, ['-s', 'idle', '-n', '15']);
  expect(limited.connections.connected).toBe(10);
  expect(limited.connections.open).toBe(10);
  expect(limited.failures).toEqual({ '429 too_many_connections': 5 });
  expect(limited.notes.join('\n')).toMatch(/refused with 429 too_many_connections: the server's limits\.connectionsPerIp .* --addresses/);
  const spread = await bench({ connectionsPerIp: 10 }, ['-s', 'idle', '-n', '15', '--addresses', '2']);
  expect(spread.connections.open).toBe(15);
  expect(spread.notes).toEqual([]);
});

it('echo against the default message rate keeps under the rate the server announces, and says so', async () => {
  const r = await bench({}, ['-s', 'echo', '-n', '2']);
  expect(r.count).toBeGreaterThan(0);
  expect(r.rate_limited).toBe(0);
  expect(r.closes).toEqual({});
  expect(r.paced_to).toBe(100);
  expect(r.notes.join('\n')).toMatch(/held back to stay under the 100 messages\/s per connection .*limits\.messagesPerSecond/);
});

// Every default on both sides: `switchboard serve` and `switchboard bench URL` (only the window shortened).
describe('bench with its defaults against serve with its defaults', () => {
  for (const scenario of ['fanout', 'echo'] as const) {
    it(`${scenario}: connects every connection, counts, and names the rate it kept under`, async () => {
      const server = await serve();
      const wsUrl = `${server.url.replace('http', 'ws')}/ws`;
      const { code, stdout, stderr } = await tool(['bench', wsUrl, '-s', scenario, '--json', '-d', '1', '-w', '0.5']).exited;
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const r = JSON.parse(stdout) as BenchResult;
      const asked = scenario === 'fanout' ? 1000 : 100;
      expect(r.connections).toEqual({ asked, connected: asked, open: asked, failed: 0 });
      expect(r.count).toBeGreaterThan(0);
      expect(r.rate_limited).toBe(0);
      expect(r.paced_to).toBe(100);
    }, 60_000);
  }
});

it('says which limit refused the fan-out publisher, and how to lift it', async () => {
  const srv = await startServer({ limits: { connectionsPerIp: 2 } });
  servers.push(srv);
  const { code, stderr } = await tool(['bench', srv.wsUrl, '-s', 'fanout', '-n', '2', '--addresses', '1', '-d', '0.2', '-w', '0']).exited;
  expect(code).toBe(1);
  expect(stderr).toMatch(/publisher refused: 429 too_many_connections: the server's limits\.connectionsPerIp \(default 1000\) was reached; raise it/);
});

it('prints a table by default', async () => {
  const srv = await startServer({ limits: RAISED });
  servers.push(srv);
  const { code, stdout } = await tool(['bench', srv.wsUrl, '-s', 'fanout', '-n', '3', '-d', '0.5', '-w', '0']).exited;
  expect(code).toBe(0);
  expect(stdout).toMatch(/^scenario\s+fanout against ws:\/\/127\.0\.0\.1:\d+\/ws\n/);
  expect(stdout).toMatch(/\nrate\s+[\d,]+ deliveries\/s/);
  expect(stdout).toMatch(/\nlatency\s+p50 \S+ (µs|ms)\s+p90/);
  expect(stdout).toContain('server CPU     not measured (give --server-pid PID)');
});

it('exits 1 when nothing connects, and says why', async () => {
  const srv = await startServer();
  const url = srv.wsUrl;
  await srv.close();
  const { code, stdout } = await tool(['bench', url, '-s', 'idle', '-n', '2', '-d', '0.1', '-w', '0']).exited;
  expect(code).toBe(1);
  expect(stdout).toMatch(/note: 2 connections refused: nothing listens at/);
});
