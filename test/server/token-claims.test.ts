// `jwtAudience` and `jwtIssuer`: a token for another audience or from another
// issuer is refused like any bad token (401 `unauthorized` before the upgrade,
// and `unauthorized` for a refresh), on both the handshake and refresh paths.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/server/config.js';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let server: TestServer | null = null;
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = null;
});

const good = { sub: 'ann', aud: 'switchboard', iss: 'https://auth.example.com' };

describe('token audience and issuer', () => {
  it('accepts a token with the configured audience and one of the issuers, and refuses the others with 401', async () => {
    server = await startServer({ jwtSecret: SECRET, jwtAudience: 'switchboard', jwtIssuer: ['https://auth.example.com', 'https://other.example.com'] });
    const bearer = async (claims: Record<string, unknown>) => ({ Authorization: `Bearer ${await sign(claims)}` });
    expect((await upgradeRequest(server.url, await bearer(good))).status).toBe(101);
    expect((await upgradeRequest(server.url, await bearer({ ...good, aud: ['x', 'switchboard'] }))).status).toBe(101);
    expect((await upgradeRequest(server.url, await bearer({ ...good, iss: 'https://other.example.com' }))).status).toBe(101);
    for (const [claims, message] of [
      [{ ...good, aud: 'someone-else' }, /audience/],
      [{ sub: 'ann', iss: good.iss }, /audience/],
      [{ ...good, iss: 'https://evil.example.com' }, /issuer/],
      [{ sub: 'ann', aud: good.aud }, /issuer/],
    ] as const) {
      const answer = await upgradeRequest(server.url, await bearer(claims));
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({ code: 'unauthorized', message: expect.stringMatching(message) });
    }
  });

  it('refuses a refresh with a token for another audience', async () => {
    server = await startServer({ jwtSecret: SECRET, jwtAudience: 'switchboard' });
    const client = await RawClient.connect(server.wsUrl, { headers: { Authorization: `Bearer ${await sign(good)}` } });
    clients.push(client);
    const reply = await client.request({ type: 'refresh', token: await sign({ ...good, aud: 'elsewhere' }) });
    expect(reply).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    expect((await client.request({ type: 'refresh', token: await sign(good) })).ok).toBe(true);
  });

  it('checks the config keys at load', () => {
    expect(parseConfig({}).jwtAudience).toBeNull();
    expect(() => parseConfig({ jwtAudience: '' })).toThrow(/jwtAudience/);
    expect(() => parseConfig({ jwtIssuer: [] })).toThrow(/jwtIssuer/);
  });
});
