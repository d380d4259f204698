// POST /api/revoke on two Redis nodes: the matching connections are closed
// with 4001 on every node, such tokens are refused (401) on every node until
// the revocation expires, and revocations are bounded (docs/security.md,
// "Revoking tokens").
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, requireService } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const available = await requireService('Redis', REDIS_URL);
const API_KEY = 'revoke-key';

const servers: TestServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function cluster(limits: { revocations?: number } = {}): Promise<[TestServer, TestServer]> {
  const prefix = `sb-test-${randomUUID()}`;
  const node = async () => {
    const s = await startServer({ jwtSecret: SECRET, apiKey: API_KEY, limits, broker: new RedisBroker({ url: REDIS_URL, prefix }) });
    servers.push(s);
    return s;
  };
  return [await node(), await node()];
}

async function revoke(server: TestServer, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/api/revoke`, { method: 'POST', headers: { Authorization: `apikey ${API_KEY}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

async function connect(server: TestServer, token: string): Promise<RawClient> {
  const c = await RawClient.connect(server.wsUrl, { headers: { Authorization: `Bearer ${token}` } });
  clients.push(c);
  return c;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

it.runIf(available)('revokes a user’s tokens issued before a time: closes them with 4001 on both nodes and refuses them on both', async () => {
  const [a, b] = await cluster();
  const user = `ann-${randomUUID()}`;
  const old = await sign({ sub: user });
  const [onA, onB] = [await connect(a, old), await connect(b, old)];
  const bob = await connect(b, await sign({ sub: `bob-${randomUUID()}` }));
  const before = Math.floor(Date.now() / 1000) + 2;
  expect(await revoke(a, { user, before })).toEqual({ status: 200, body: { disconnected: 2 } });
  for (const closed of [await onA.closed, await onB.closed]) expect(closed).toEqual({ code: 4001, reason: 'token revoked' });
  for (const server of [a, b]) {
    const refused = await upgradeRequest(server.url, bearer(old));
    expect(refused.status).toBe(401);
    expect(refused.body.error).toEqual({ code: 'unauthorized', message: 'token revoked' });
  }
  // A token issued after `before` is fine, and so is another user.
  const fresh = await new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user)
    .setIssuedAt(before + 1)
    .setExpirationTime(before + 3600)
    .sign(new TextEncoder().encode(SECRET));
  await connect(b, fresh);
  expect(bob.ws.readyState).toBe(bob.ws.OPEN);
  // A refresh with a revoked token is refused too.
  const reply = await bob.request({ type: 'refresh', token: old });
  expect(reply).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
});

it.runIf(available)('revokes one token by jti on every node, leaving the user’s other tokens alone', async () => {
  const [a, b] = await cluster();
  const user = `cy-${randomUUID()}`;
  const jti = randomUUID();
  const marked = await sign({ sub: user, jti });
  const other = await sign({ sub: user, jti: randomUUID() });
  const [doomed, kept] = [await connect(b, marked), await connect(a, other)];
  expect((await revoke(a, { jti })).body).toEqual({ disconnected: 1 });
  expect(await doomed.closed).toEqual({ code: 4001, reason: 'token revoked' });
  expect((await upgradeRequest(a.url, bearer(marked))).status).toBe(401);
  expect((await upgradeRequest(b.url, bearer(other))).status).toBe(101);
  expect(kept.ws.readyState).toBe(kept.ws.OPEN);
  expect(await (await fetch(`${a.url}/metrics`)).text()).toMatch(/^switchboard_revocations [1-9]\d*$/m);
});

it.runIf(available)('refuses a bad revoke body with 400, and a revocation past limits.revocations with 429', async () => {
  const [a] = await cluster({ revocations: 1 });
  for (const body of [{}, { user: 'x' }, { before: 5 }, { jti: 'j', user: 'x', before: 1 }, { jti: '' }]) {
    const answer = await revoke(a, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('bad_request');
  }
  // The bound is cluster-wide: the one this test's nodes hold (their own key prefix) fills it.
  expect((await revoke(a, { jti: randomUUID() })).status).toBe(200);
  const over = await revoke(a, { jti: randomUUID() });
  expect(over.status).toBe(429);
  expect(over.body.error.code).toBe('rate_limited');
});
