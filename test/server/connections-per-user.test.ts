// limits.connectionsPerUser holds across the cluster: two nodes on one Redis
// count a user's connections together; one over the limit is closed with 4029
// before its welcome (docs/protocol.md, "Per-user connections"), counted in
// /metrics, and a slot frees when one of the user's connections closes.
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const available = await requireService('Redis', REDIS_URL);

const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function node(prefix: string): Promise<TestServer> {
  const s = await startServer({ jwtSecret: SECRET, limits: { connectionsPerUser: 2 }, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
  servers.push(s);
  return s;
}

it.runIf(available)('refuses a user’s third connection on either node with 4029, and admits one again once a slot frees', async () => {
  const prefix = `sb-test-${randomUUID()}`;
  const [a, b] = [await node(prefix), await node(prefix)];
  const user = `ann-${randomUUID()}`;
  const headers = { Authorization: `Bearer ${await sign({ sub: user })}` };
  const first = await RawClient.connect(a.wsUrl, { headers });
  const second = await RawClient.connect(b.wsUrl, { headers });
  clients.push(first, second);
  await expect(RawClient.connect(a.wsUrl, { headers })).rejects.toThrow(/closed with 4029 before welcome/);
  await expect(RawClient.connect(b.wsUrl, { headers })).rejects.toThrow(/closed with 4029 before welcome/);
  // Another user is not limited by ann's connections.
  clients.push(await RawClient.connect(a.wsUrl, { headers: { Authorization: `Bearer ${await sign({ sub: `bob-${randomUUID()}` })}` } }));
  const metrics = await (await fetch(`${a.url}/metrics`)).text();
  expect(metrics).toMatch(/^switchboard_user_connection_refusals_total 1$/m);

  first.ws.close();
  await first.closed;
  // The slot frees once node A has counted the close out: each refused try is an answer, not a wait.
  let third: RawClient | null = null;
  for (let tries = 0; !third && tries < 50; tries++) third = await RawClient.connect(b.wsUrl, { headers }).catch(() => null);
  expect(third).not.toBeNull();
  clients.push(third!);
});
