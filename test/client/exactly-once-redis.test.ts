// Exactly once from the sender across nodes: an SDK client publishes 5,000
// times through a load balancer (a TCP proxy) to node A, a `switchboard serve
// --redis` process; mid-stream A is SIGKILLed and the balancer sends the
// client to node B. Just before, the balancer starts dropping A's replies, and
// A is killed once a watcher on B has seen publications A stored whose
// publishes are unanswered. These are resent to B with the same key, and
// Redis's publish script answers them with the first offset: every publish
// resolves, and the history holds each payload once.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { connect } from '../../src/client/node.js';
import { killChildren, serve } from '../helpers/cli.js';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const available = await requireService('Redis', REDIS_URL);

const TOTAL = 5_000;
const CONCURRENCY = 64;
const HISTORY = { size: 10_000, ttl: 600_000 };
const config = {
  limits: { messagesPerSecond: 100_000, burst: 100_000, requestsInFlight: 128 },
  namespaces: { '': { history: HISTORY } },
};

describe.runIf(available)('exactly once across two nodes on Redis', () => {
  const channel = `exactly-${randomUUID()}`;
  let b: TestServer | null = null;
  let proxy: TcpProxy | null = null;

  afterEach(async () => {
    killChildren();
    await proxy?.close();
    await b?.close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`switchboard:*:${channel}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('stores every resolved publish once when the publisher’s node is SIGKILLed mid-stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-exactly-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify(config));
    const a = await serve(['--redis', REDIS_URL, '--config', file]);
    b = await startServer({ ...config, broker: new RedisBroker({ url: REDIS_URL }) });
    proxy = await TcpProxy.start(Number(new URL(a.url).port));
    const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 5, maxDelay: 30 } });
    const servers = new Set<string>();
    client.on('connected', (welcome) => servers.add(welcome.server));
    const watcher = await RawClient.connect(b.wsUrl);
    await watcher.ok({ type: 'subscribe', channel });

    const offsets = new Map<number, number>();
    const failures: unknown[] = [];
    let next = 0;
    let resolved = 0;
    let killed = false;
    let unanswered = 0;
    const killAt = 1_000 + Math.floor(Math.random() * 2_000);
    async function worker(): Promise<void> {
      while (next < TOTAL) {
        const i = next++;
        try {
          const { offset } = await client.publish(channel, i);
          offsets.set(i, offset!);
        } catch (error) {
          failures.push(error);
        }
        if (++resolved === killAt && !killed) {
          killed = true;
          // A keeps storing, its answers are lost; once B's watcher has seen
          // twenty such publications, new connections go to B and A dies.
          proxy!.dropReplies();
          const storedUnanswered = (f: Frame) => f.type === 'message' && !offsets.has(f.payload as number);
          for (let seen = 0; seen < 20; seen++) await watcher.next(storedUnanswered, 10_000);
          unanswered = watcher.messages(channel).filter(storedUnanswered).length;
          proxy!.target = Number(new URL(b!.url).port);
          a.child.kill('SIGKILL');
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    client.close();
    expect((await a.exited).signal).toBe('SIGKILL');

    expect(failures).toEqual([]);
    expect(offsets.size).toBe(TOTAL);
    expect(servers.size).toBe(2);
    // Publishes were in flight, stored and unanswered, when A died.
    expect(unanswered).toBeGreaterThanOrEqual(10);
    await watcher.close();
    const page = await b.server.operations.history(channel, { limit: 2 * TOTAL });
    const payloads = page.publications.map((p) => p.payload as number);
    expect(payloads).toHaveLength(TOTAL);
    expect(new Set(payloads).size).toBe(TOTAL);
    for (const publication of page.publications) expect(offsets.get(publication.payload as number)).toBe(publication.offset);
  }, 120_000);
});
