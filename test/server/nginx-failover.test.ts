// The nginx configuration of docs/scaling.md, "Behind nginx", read from that
// page (only the node addresses and the listen port replaced), in front of
// two `switchboard serve` processes on a Redis of the test's own. While a
// publisher publishes through nginx, node A is SIGKILLed: every SDK client
// on A reconnects through nginx to B and receives every publication exactly
// once, in order, with no reset; nginx never answers "no live upstreams".
import { afterEach, expect, it } from 'vitest';
import type { SwitchboardClient } from '../../src/client/client.js';
import { connect } from '../../src/client/node.js';
import { killChildren } from '../helpers/cli.js';
import { docsNginxConfig, requireNginx, startNginx, type Nginx } from '../helpers/nginx.mjs';
import { freePort } from '../helpers/ports.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { configFile, selfStats, serveNode } from '../helpers/serve-nodes.js';
import { requireCommand } from '../helpers/services.js';
import { waiters } from '../helpers/until.js';

const nginxBinary = requireNginx();
const haveRedis = requireCommand('redis-server', 'apt-get install redis-server');
const API_KEY = 'nginx-test-key';
const SUBSCRIBERS = 8;
/** Publications every subscriber receives before the kill, and after every client of A is back. */
const BEFORE = 30;
const AFTER = 30;

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

it.runIf(nginxBinary && haveRedis)(
  'moves every client of a SIGKILLed node to the other through nginx, each publication exactly once',
  async () => {
    redis = await startRedis(await freePort());
    const [portA, portB, portNginx] = [await freePort(), await freePort(), await freePort()];
    const config = configFile({
      apiKey: API_KEY,
      trustProxy: ['127.0.0.1'],
      namespaces: { '': { history: { size: 5_000, ttl: 300_000 } } },
    });
    const a = await serveNode(portA, redis.url, config);
    const b = await serveNode(portB, redis.url, config);
    nginx = await startNginx(nginxBinary!, docsNginxConfig([portA, portB], portNginx), portNginx);
    const viaNginx = `http://127.0.0.1:${portNginx}`;

    // Subscribers through nginx, which spreads them over both nodes.
    const seen = Array.from({ length: SUBSCRIBERS }, () => ({ offsets: [] as number[], ticks: [] as number[], resets: 0, drops: 0 }));
    for (const record of seen) {
      const client = connect(`ws://127.0.0.1:${portNginx}/ws`, { reconnect: { initialDelay: 50, maxDelay: 300 } });
      clients.push(client);
      client.on('disconnected', () => (record.drops++, wake()));
      const sub = client.subscribe('ticks', (payload, frame) => {
        record.offsets.push(frame.offset!);
        record.ticks.push((payload as { i: number }).i);
        wake();
      });
      sub.on('reset', () => record.resets++);
      await sub.ready;
    }
    const onA = (await selfStats(a.url, API_KEY)).connections;
    expect(onA).toBeGreaterThan(0);
    expect(onA).toBeLessThan(SUBSCRIBERS);

    // The publisher: through nginx, each tick with its own idempotency key, sent
    // again on any failure (its node may die holding it) until it is answered.
    const failures: string[] = [];
    let published = 0;
    let stop = false;
    const publisher = (async () => {
      while (!stop) {
        const i = published + 1;
        for (let attempt = 0; ; attempt++) {
          if (attempt === 20) throw new Error(`tick ${i} failed 20 times: ${failures.join(', ')}`);
          try {
            const res = await fetch(`${viaNginx}/api/publish`, {
              method: 'POST',
              headers: { Authorization: `apikey ${API_KEY}`, 'Content-Type': 'application/json' },
              body: JSON.stringify({ channel: 'ticks', payload: { i }, idempotencyKey: `tick-${i}` }),
            });
            const body = await res.text();
            if (res.ok) {
              // The offset is the tick's: an answered retry names the first write's offset.
              expect(JSON.parse(body)).toEqual({ offset: i });
              break;
            }
            failures.push(`${res.status} ${body.slice(0, 80)}`);
          } catch (error) {
            failures.push(String((error as Error).cause ?? error));
          }
        }
        published = i;
      }
    })();
    const everyoneHas = (n: number) => seen.every((r) => r.ticks.length >= n);

    await until(() => everyoneHas(BEFORE), `${BEFORE} ticks everywhere`);
    a.child.kill('SIGKILL');
    const killedAt = published;
    await a.exited;
    // Each client of A notices, comes back through nginx (to B), and catches up past the kill.
    await until(() => seen.filter((r) => r.drops > 0).length === onA, `${onA} clients to drop`);
    await until(() => everyoneHas(killedAt + AFTER), 'every client past the kill');
    stop = true;
    await publisher;
    await until(() => everyoneHas(published), `all ${published} ticks everywhere`);

    const all = Array.from({ length: published }, (_, k) => k + 1);
    for (const record of seen) {
      expect(record.ticks).toEqual(all);
      expect(record.offsets).toEqual(all);
      expect(record.resets).toBe(0);
    }
    // Exactly A's clients dropped, once each, and all are on B now.
    expect(seen.map((r) => r.drops).sort()).toEqual([...Array(SUBSCRIBERS - onA).fill(0), ...Array(onA).fill(1)]);
    expect((await selfStats(b.url, API_KEY)).connections).toBe(SUBSCRIBERS);
    // Only publishes that reached A as it died failed, never for want of a live node: the one in flight,
    // and (seen once in ten full runs on a loaded box) one that A's kernel still accepted while the
    // process exited, then reset. nginx tries B after a refused connection, but not after it has sent a
    // POST (proxy_next_upstream leaves non-idempotent requests alone), so each comes back 502 and the
    // publisher sends it again with its key: exactly once, as the ticks above show.
    const why = `failed publishes: ${JSON.stringify(failures)}`;
    expect(
      failures.every((failure) => failure.startsWith('502 ')),
      why,
    ).toBe(true);
    expect(failures.length, why).toBeLessThanOrEqual(2);
    expect(nginx.errorLog()).not.toContain('no live upstreams');
    console.log(
      `published ${published} ticks, A died after ${killedAt}; ${onA} of ${SUBSCRIBERS} clients moved; failed publishes: ${JSON.stringify(failures)}`,
    );
  },
  60_000,
);
