// Tokens beyond HS256: keys from a JWKS URL (RS256, ES256, rotation), expiry
// during a connection (4001), and refresh.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upgradeRequest } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

describe('keys from a JWKS URL', () => {
  const keys: JWK[] = [];
  let fetches = 0;
  let jwksServer: http.Server;
  let srv: TestServer;
  const signers: Record<string, CryptoKey> = {};

  async function addKey(alg: 'RS256' | 'ES256', kid: string) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    keys.push({ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' });
    signers[kid] = privateKey as CryptoKey;
  }
  const tokenFor = (kid: string, alg: string, sub: string) =>
    new SignJWT({}).setProtectedHeader({ alg, kid }).setSubject(sub).setExpirationTime('1h').sign(signers[kid]!);

  beforeAll(async () => {
    await addKey('RS256', 'rsa-1');
    await addKey('ES256', 'ec-1');
    jwksServer = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    srv = await startServer({ jwks: `http://127.0.0.1:${port}/jwks.json`, jwksCooldown: 0 });
  });
  afterAll(async () => {
    await srv.close();
    await new Promise((resolve) => jwksServer.close(resolve));
  });

  it('accepts RS256 and ES256 tokens, fetching the key set once', async () => {
    const rsa = await RawClient.connect(`${srv.wsUrl}?token=${await tokenFor('rsa-1', 'RS256', 'rosa')}`);
    const ec = await RawClient.connect(`${srv.wsUrl}?token=${await tokenFor('ec-1', 'ES256', 'eve')}`);
    expect([rsa.welcome.payload.user, ec.welcome.payload.user]).toEqual(['rosa', 'eve']);
    expect(fetches).toBe(1);
    await Promise.all([rsa.close(), ec.close()]);
  });

  it('picks up a rotated key by fetching again for an unknown key id', async () => {
    await addKey('RS256', 'rsa-2');
    const client = await RawClient.connect(`${srv.wsUrl}?token=${await tokenFor('rsa-2', 'RS256', 'newkey')}`);
    expect(client.welcome.payload.user).toBe('newkey');
    expect(fetches).toBe(2);
    await client.close();
  });

  it('refuses a token signed by a key not in the set', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const rogue = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setSubject('x').sign(privateKey);
    expect((await upgradeRequest(srv.url, { Authorization: `Bearer ${rogue}` })).status).toBe(401);
  });

  it('refuses HS256 tokens when only a JWKS is configured', async () => {
    const hs = await sign({ sub: 'h' });
    const answer = await upgradeRequest(srv.url, { Authorization: `Bearer ${hs}` });
    expect(answer.status).toBe(401);
    expect(answer.body.error.message).toMatch(/HS256/);
  });
});

describe('an unreachable JWKS', () => {
  it('refuses with 503 unavailable, not 401: the token may be fine', async () => {
    const nowhere = await startServer({ jwks: `http://127.0.0.1:${await freePort()}/jwks.json` });
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k' }).setSubject('u').sign(privateKey);
    const answer = await upgradeRequest(nowhere.url, { Authorization: `Bearer ${token}` });
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('unavailable');
    await nowhere.close();
  });
});

describe('expiry and refresh', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ jwtSecret: SECRET });
  });
  afterAll(() => srv.close());

  it('closes with 4001 when the token expires during the connection', async () => {
    const client = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'brief' }, { expiresIn: 1 })}`);
    const closed = await client.closed;
    expect(closed.code).toBe(4001);
  });

  it('keeps a connection whose token was refreshed before it expired', async () => {
    const refreshed = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'keen' }, { expiresIn: 1 })}`);
    // A twin with the same expiry that does not refresh marks when the old token ran out.
    const twin = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'lazy' }, { expiresIn: 1 })}`);
    const later = Math.floor(Date.now() / 1000) + 3600;
    const reply = await refreshed.ok({ type: 'refresh', token: await sign({ sub: 'keen' }, { expiresIn: 3600 }) });
    expect(reply.expiresAt).toBeGreaterThanOrEqual(later);
    expect((await twin.closed).code).toBe(4001);
    expect(await refreshed.alive()).toBe(true);
    await refreshed.close();
  });

  it('refuses a refresh with another user’s token as forbidden, and a bad one as unauthorized', async () => {
    const client = await RawClient.connect(`${srv.wsUrl}?token=${await sign({ sub: 'me' })}`);
    expect((await client.request({ type: 'refresh', token: await sign({ sub: 'you' }) })).error.code).toBe('forbidden');
    expect((await client.request({ type: 'refresh', token: 'garbage' })).error.code).toBe('unauthorized');
    const expired = await sign({ sub: 'me' }, { expiresIn: -10 });
    expect((await client.request({ type: 'refresh', token: expired })).error.code).toBe('unauthorized');
    expect(await client.alive()).toBe(true);
    await client.close();
  });

  it('refuses a refresh that would turn an anonymous connection into a user', async () => {
    const anon = await RawClient.connect(srv.wsUrl);
    expect((await anon.request({ type: 'refresh', token: await sign({ sub: 'someone' }) })).error.code).toBe('forbidden');
    await anon.close();
  });

  it('applies a refreshed channels claim to later subscriptions', async () => {
    const tokenSrv = await startServer({ jwtSecret: SECRET, namespaces: { team: { subscribe: 'token' } } });
    const client = await RawClient.connect(`${tokenSrv.wsUrl}?token=${await sign({ sub: 'ted', channels: [] })}`);
    expect((await client.request({ type: 'subscribe', channel: 'team:a' })).error.code).toBe('forbidden');
    await client.ok({ type: 'refresh', token: await sign({ sub: 'ted', channels: ['team:*'] }) });
    await client.ok({ type: 'subscribe', channel: 'team:a' });
    await client.close();
    await tokenSrv.close();
  });
});
