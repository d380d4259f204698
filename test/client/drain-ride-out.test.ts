// The SDK through a restart (docs/client.md, "Restarts and deploys"): the
// drain's 1012 is a reconnect, not an error; a publish made meanwhile waits
// past the request timeout, up to its own deadline (publishTimeout), and is
// sent once the node is back.
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { connect, SwitchboardError, type SwitchboardClient } from '../../src/client/node.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';

const servers: SwitchboardServer[] = [];
const clients: SwitchboardClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(port = 0): Promise<{ server: SwitchboardServer; port: number }> {
  const server = createServer({ logger: pino({ level: 'silent' }) });
  servers.push(server);
  const listening = await server.listen(port, '127.0.0.1');
  return { server, port: listening.port };
}

function once<T>(client: SwitchboardClient, event: 'connected' | 'disconnected'): Promise<T> {
  return new Promise((resolve) => {
    const off = client.on(event, (payload) => {
      off();
      resolve(payload as T);
    });
  });
}

it('rides out a drain: 1012 without an error, and a publish made while down waits past the request timeout and is stored once', async () => {
  const first = await serve();
  const url = `ws://127.0.0.1:${first.port}/ws`;
  // A short request timeout: the publish must outlive it, as publishes have their own deadline.
  const client = connect(url, { timeout: 100, reconnect: { initialDelay: 20, maxDelay: 100 } });
  clients.push(client);
  const errors: unknown[] = [];
  client.on('error', (error) => errors.push(error));
  await once(client, 'connected');

  const dropped = once<{ code: number }>(client, 'disconnected');
  await first.server.close();
  expect((await dropped).code).toBe(1012);
  const publishing = client.publish('news', 'while down');
  // Longer than the request timeout has passed once an rpc made now has timed out.
  await expect(client.rpc('ping', null)).rejects.toMatchObject({ code: 'timeout' });

  const second = await serve(first.port);
  const back = once(client, 'connected');
  expect(await publishing).toEqual({ offset: 1 });
  await back;
  expect((await second.server.history('news')).publications.map((p) => p.payload)).toEqual(['while down']);
  expect(errors).toEqual([]);
});

it('rejects a publish with timeout once its publishTimeout has passed with the node still down', async () => {
  const { server, port } = await serve();
  const client = connect(`ws://127.0.0.1:${port}/ws`, { publishTimeout: 150, reconnect: { initialDelay: 20, maxDelay: 100 } });
  clients.push(client);
  await once(client, 'connected');
  const dropped = once(client, 'disconnected');
  await server.close();
  await dropped;
  const error = await client.publish('news', 'never').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SwitchboardError);
  expect((error as SwitchboardError).code).toBe('timeout');
});
