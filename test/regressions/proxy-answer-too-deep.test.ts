// Hostile pass: a backend answering a result nested 300 000 levels deep was
// taken (JSON.parse does not mind), and the server then failed on it later,
// where it could not refuse cleanly: a publish was fanned out half-way and
// answered `internal` after it was published, an rpc reply was `internal`,
// a connect's info sat in presence where every read of it failed. Client
// frames and API bodies are refused past MAX_DEPTH; a backend's answer now is
// too, as the bad answer it is: the request gets `unavailable`.
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend, proxyCalls } from '../helpers/backend.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

const DEEP = `${'['.repeat(300_000)}${']'.repeat(300_000)}`;

let backend: Backend | null = null;
let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  await backend?.close();
  srv = backend = null;
});

describe('a backend answer nested past MAX_DEPTH', () => {
  it('is a bad answer: the publish is refused unavailable before anything is published, and the client lives on', async () => {
    backend = await Backend.start();
    const deep = (_call: unknown, res: ServerResponse) => res.end(`{"result":{"payload":${DEEP}}}`);
    backend.answer('publish', deep);
    backend.answer('rpc', deep);
    srv = await startServer({
      namespaces: { '': { subscribe: 'anyone', publish: 'proxy', history: { size: 10, ttl: 60_000 } } },
      proxy: backend.proxyConfig(),
    });
    const client = await RawClient.connect(srv.wsUrl);
    expect((await client.request({ type: 'subscribe', channel: 'a' })).ok).toBe(true);
    const published = await client.request({ type: 'publish', channel: 'a', payload: 1 });
    expect(published.error?.code).toBe('unavailable');
    const rpc = await client.request({ type: 'rpc', method: 'm', payload: null });
    expect(rpc.error?.code).toBe('unavailable');
    expect(await client.alive()).toBe(true);
    expect((await srv.server.history('a')).publications).toEqual([]);
    expect(await proxyCalls(srv.server)).toMatchObject({ 'publish:bad_answer': 1, 'rpc:bad_answer': 1 });
    await client.close();
  });
});
