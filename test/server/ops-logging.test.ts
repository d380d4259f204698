// The log lines an operator needs (docs/operations.md, "Logs"): broker down
// and back with how long, refused handshakes, API calls and hook failures,
// none of them carrying a token or the API key.
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const available = await requireService('Redis', REDIS_URL);
const API_KEY = 'api-key-that-must-not-be-logged';

/** A pino logger writing to memory, and a way to wait for a line. */
function capture() {
  const entries: Array<Record<string, any>> = [];
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        lines.push(line);
        entries.push(JSON.parse(line));
        for (const wake of waiters.splice(0)) wake();
      },
    },
  );
  const line = async (msg: string, timeoutMs = 5_000): Promise<Record<string, any>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = entries.find((e) => e.msg === msg);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no "${msg}" line within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  return { logger, entries, lines, line };
}

let redis: RedisProcess | null = null;
let server: SwitchboardServer | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
  await redis?.kill();
  redis = null;
});

it.runIf(available)('logs refused handshakes, API calls, hook failures, and the broker down and back, without tokens', async () => {
  const port = await freePort();
  redis = await startRedis(port);
  const log = capture();
  server = createServer({
    logger: log.logger,
    jwtSecret: SECRET,
    apiKey: API_KEY,
    brokerTimeout: 500,
    broker: new RedisBroker({ url: redis.url, timeout: 500 }),
    namespaces: { '': { subscribe: 'authenticated', publish: 'authenticated', history: { size: 10, ttl: 60_000 } } },
  });
  server.onDisconnect(() => {
    throw new Error('application bug');
  });
  const { url } = await server.listen(0, '127.0.0.1');
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const token = await sign({ sub: 'ops-user' });
  const forged = await sign({ sub: 'ops-user' }, { secret: 'not-the-secret-at-all-really' });

  // Refused: a forged token (401), and a good token from a foreign origin (403).
  await expect(RawClient.connect(`${wsUrl}?token=${forged}`)).rejects.toThrow();
  await expect(RawClient.connect(`${wsUrl}?token=${token}`, { headers: { Origin: 'https://evil.example' } })).rejects.toThrow();
  const refused = log.entries.filter((e) => e.msg === 'handshake refused');
  expect(refused).toEqual([
    expect.objectContaining({ status: 401, code: 'unauthorized', ip: '127.0.0.1' }),
    expect.objectContaining({ status: 403, code: 'forbidden_origin', ip: '127.0.0.1' }),
  ]);

  // Accepted; a disconnect listener that throws is logged with the client id.
  const client = await RawClient.connect(`${wsUrl}?token=${token}`);
  expect(await client.alive()).toBe(true);
  await client.close();
  expect(await log.line('disconnect hook failed')).toMatchObject({ client: client.welcome.payload.client });

  // API calls: method, path (no query), status, duration.
  await fetch(`${url}/api/history?channel=secret-query-channel&limit=1`, { headers: { Authorization: `apikey ${API_KEY}` } });
  await fetch(`${url}/api/stats`, { headers: { Authorization: 'apikey wrong' } });
  const calls = log.entries.filter((e) => e.msg === 'api call');
  expect(calls).toEqual([
    expect.objectContaining({ method: 'GET', path: '/api/history', status: 200, durationMs: expect.any(Number) }),
    expect.objectContaining({ method: 'GET', path: '/api/stats', status: 403, durationMs: expect.any(Number) }),
  ]);

  // The broker goes down, and comes back on the same port.
  const downAt = Date.now();
  await redis.kill();
  expect(await log.line('broker down')).toMatchObject({ broker: 'redis', level: 50 });
  const metrics = async () => (await fetch(`${url}/metrics`)).text();
  expect(await metrics()).toMatch(/^switchboard_broker_up 0$/m);
  expect(await metrics()).toMatch(/^switchboard_broker_outages_total 1$/m);
  redis = await startRedis(port);
  const back = await log.line('broker back', 15_000);
  expect(back.downMs).toBeGreaterThan(0);
  expect(back.downMs).toBeLessThanOrEqual(Date.now() - downAt);
  expect(await metrics()).toMatch(/^switchboard_broker_up 1$/m);

  const all = log.lines.join('\n');
  for (const secret of [token, forged, token.split('.')[2]!, forged.split('.')[2]!, API_KEY, 'secret-query-channel']) {
    expect(all).not.toContain(secret);
  }
});
