// When a publish is resent and when it settles (docs/client.md, "Exactly once
// from the sender"): a draining server's `unavailable` means "not done", so
// the SDK sends it again after reconnecting (here to another node); a publish
// whose connection keeps dying past the server's idempotency window rejects
// with `timeout`, the one answer that does not say whether it was stored;
// an RPC in flight still rejects with `unavailable` (it may have happened).
import { afterEach, expect, it } from 'vitest';
import { connect, type SwitchboardError } from '../../src/client/node.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const HISTORY = { '': { history: { size: 10, ttl: 60_000 } } };
const open: Array<{ close: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close().catch(() => {});
});

async function server(options: Parameters<typeof startServer>[0] = {}): Promise<TestServer> {
  const srv = await startServer({ namespaces: HISTORY, ...options });
  open.push(srv);
  return srv;
}

it('resends a publish refused by a draining server after reconnecting, and stores it once', async () => {
  const draining = await server();
  const next = await server();
  let release = () => {};
  const started = new Promise<void>((resolve) =>
    draining.server.rpc('slow', () => {
      resolve();
      return new Promise((done) => (release = () => done('finished')));
    }),
  );
  const proxy = await TcpProxy.start(Number(new URL(draining.url).port));
  open.push(proxy);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 5, maxDelay: 20 } });
  const servers: string[] = [];
  client.on('connected', (welcome) => servers.push(welcome.server));
  // An RPC holds the drain open, so the publish arrives while the server refuses new requests.
  const rpc = client.rpc('slow', null);
  await started;
  const closing = draining.close();
  expect((await fetch(`${draining.url}/readyz`)).status).toBe(503);
  proxy.target = Number(new URL(next.url).port);
  // Refused with `unavailable` while the RPC holds the drain open: resent later, never rejected.
  const refused = new Promise<void>((resolve) =>
    (client as any).socket.on('message', (data: Buffer) => data.toString().includes('"unavailable"') && resolve()),
  );
  const publish = client.publish('orders', 'once');
  await refused;
  release();
  expect(await rpc).toBe('finished');
  await closing;
  expect(await publish).toEqual({ offset: 1 });
  expect(servers).toEqual([draining.server.operations.nodeId, next.server.operations.nodeId]);
  const stored = async (srv: TestServer) => (await srv.server.operations.history('orders')).publications;
  expect(await stored(draining)).toEqual([]);
  expect((await stored(next)).map((p) => p.payload)).toEqual(['once']);
  client.close();
});

it('rejects a publish with timeout once the idempotency window has passed without an answer, and an RPC with unavailable', async () => {
  // A tiny window: the connection is cut with the publish in flight, and the
  // server's answer never gets through before the window is over.
  const srv = await server({ idempotencyWindow: 1 });
  const proxy = await TcpProxy.start(Number(new URL(srv.url).port));
  open.push(proxy);
  const client = connect(`ws://127.0.0.1:${proxy.port}/ws`, { reconnect: { initialDelay: 5, maxDelay: 20 } });
  await new Promise((resolve) => client.on('connected', resolve));
  const watcher = await RawClient.connect(srv.wsUrl);
  await watcher.ok({ type: 'subscribe', channel: 'orders' });
  proxy.dropReplies();
  const publish = client.publish('orders', 'maybe').catch((error: SwitchboardError) => error);
  const rpc = client.rpc('anything', null).catch((error: SwitchboardError) => error);
  // The publish reached the server (it is stored) but its reply was dropped.
  expect((await watcher.next((f) => f.type === 'message')).payload).toBe('maybe');
  proxy.cut();
  const publishError = (await publish) as SwitchboardError;
  expect(publishError.code).toBe('timeout');
  expect(publishError.message).toMatch(/may or may not have been stored/);
  expect(((await rpc) as SwitchboardError).code).toBe('unavailable');
  client.close();
  await watcher.close();
});
