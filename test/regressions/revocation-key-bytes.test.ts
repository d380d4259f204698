// Hostile pass: limits.revocations bounds how many revocations are held, but
// not their size: a `jti` or `user` could be a body's whole maxPayload (1 MiB),
// so the default 100 000 revocations could hold 100 GB, in memory or Redis.
// Each is now at most MAX_REVOCATION_KEY characters (no token that fits in a
// handshake's headers needs more), and a longer one is 400 bad_request.
import { afterEach, expect, it } from 'vitest';
import { MAX_REVOCATION_KEY } from '../../src/server/http/api.js';
import { startServer, type TestServer } from '../helpers/server.js';

const API_KEY = 'revoke-key';
let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

async function revoke(body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${srv!.url}/api/revoke`, { method: 'POST', headers: { Authorization: `apikey ${API_KEY}` }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

it('a jti or user longer than MAX_REVOCATION_KEY is refused 400 bad_request and not held', async () => {
  srv = await startServer({ apiKey: API_KEY });
  const long = 'x'.repeat(MAX_REVOCATION_KEY + 1);
  for (const body of [{ jti: long }, { user: long, before: 1 }]) {
    const answer = await revoke(body);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('bad_request');
  }
  expect((await revoke({ jti: 'x'.repeat(MAX_REVOCATION_KEY) })).status).toBe(200);
  const metric = (await srv.server.metricsSnapshot()).find((m) => m.name === 'switchboard_revocations');
  expect(metric?.values[0]?.value).toBe(1);
});
