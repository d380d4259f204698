// Hostile pass: presence info that the backend answered (connect or
// subscribe) was not held to limits.presenceInfoBytes, as a client's own
// presence_update is. A backend's 500 kB info sat in presence, in every join
// event and in every presence.join webhook queued. Now such an answer is a bad
// answer: the request gets unavailable (connect: 503), nothing is kept.
import { afterEach, expect, it } from 'vitest';
import { Backend, proxyCalls } from '../helpers/backend.js';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

let backend: Backend | null = null;
let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  await backend?.close();
  srv = backend = null;
});

const big = { name: 'x'.repeat(5_000) };

it('a subscribe answer with info over presenceInfoBytes: unavailable, nothing in presence', async () => {
  backend = await Backend.start();
  backend.answer('subscribe', { result: { info: big } });
  srv = await startServer({ namespaces: { '': { subscribe: 'proxy', publish: 'anyone', presence: true } }, proxy: backend.proxyConfig() });
  const client = await RawClient.connect(srv.wsUrl);
  expect((await client.request({ type: 'subscribe', channel: 'a' })).error?.code).toBe('unavailable');
  expect((await srv.server.presence('a')).clients).toEqual([]);
  expect((await proxyCalls(srv.server))['subscribe:bad_answer']).toBe(1);
  // Info within the bound is taken as before.
  backend.answer('subscribe', { result: { info: { name: 'ann' } } });
  expect((await client.request({ type: 'subscribe', channel: 'a' })).ok).toBe(true);
  expect((await srv.server.presence('a')).clients.map((c) => c.info)).toEqual([{ name: 'ann' }]);
  await client.close();
});

it('a connect answer with info over presenceInfoBytes: 503, no connection', async () => {
  backend = await Backend.start();
  backend.answer('connect', { result: { user: 'ann', info: big } });
  srv = await startServer({ proxy: backend.proxyConfig() });
  expect(await upgradeRequest(srv.url)).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
  expect((await proxyCalls(srv.server))['connect:bad_answer']).toBe(1);
  expect(srv.server.operations.stats().connections).toBe(0);
});
