// Redis goes away and comes back: readiness follows it, requests fail with
// `unavailable` meanwhile, and clients come back by themselves, told that
// history was lost (this Redis keeps nothing on disk).
import { afterEach, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { connect, type SwitchboardError } from '../../src/client/node.js';
import { killChildren, run } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { recorder } from '../helpers/recorder.js';
import { startRedis, type RedisProcess } from '../helpers/redis-process.js';
import { startServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

// redis-server is on every machine that runs Redis for the other tests.
const available = await requireService('Redis', REDIS_URL);
let redis: RedisProcess | null = null;
afterEach(async () => {
  killChildren();
  await redis?.kill();
  redis = null;
});

it.runIf(available)('follows Redis down and up: readiness, unavailable, reconnect and reset', async () => {
  const port = await freePort();
  redis = await startRedis(port);
  const srv = await startServer({ broker: new RedisBroker({ url: redis.url }) });
  const readyz = async () => (await fetch(`${srv.url}/readyz`)).status;
  expect(await readyz()).toBe(200);

  const client = connect(srv.wsUrl, { reconnect: { initialDelay: 50, maxDelay: 200 } });
  const app = recorder();
  const subscription = client.subscribe('news', app.handler);
  await subscription.ready;
  await client.publish('news', 'before');
  const reset = new Promise((resolve) => subscription.on('reset', resolve));

  await redis.kill();
  redis = null;
  await expect.poll(readyz).toBe(503);
  const error = (await client.publish('news', 'during', { timeout: 2_000 }).catch((e) => e)) as SwitchboardError;
  expect(error.code).toBe('unavailable');

  redis = await startRedis(port);
  await expect.poll(readyz, { timeout: 10_000 }).toBe(200);
  await reset;
  await client.publish('news', 'after');
  await app.until(2);
  expect(app.seen).toEqual(['before', 'after']);
  client.close();
  await srv.close();
}, 30_000);

it.runIf(available)('serve --redis stops with a clear message when nothing answers', async () => {
  const port = await freePort();
  const { exited } = run(['serve', '--port', '0', '--redis', `redis://127.0.0.1:${port}`]);
  const result = await exited;
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`cannot reach Redis at redis://127.0.0.1:${port}`);
});
