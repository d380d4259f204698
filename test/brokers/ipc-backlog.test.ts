// The workers' broker with real child processes on real IPC channels, where
// messages arrive in batches (a MessagePort delivers each on its own):
// - a worker stopped with SIGSTOP while publications to its channel keep
//   coming is dropped (and reported stuck) once its channel has been backed
//   up for maxBacklogMs, instead of the primary queueing its events without
//   bound; when it runs again it learns so, and tells its channel of the gap;
// - a subscribe and an unsubscribe read together leave nothing held.
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterEach, expect, it } from 'vitest';
import { BrokerHost } from '../../src/brokers/ipc-host.js';
import { childEndpoint, portEndpoint, type IpcEndpoint } from '../../src/brokers/ipc-endpoint.js';
import { IpcBroker } from '../../src/brokers/ipc.js';

const NODE = join(import.meta.dirname, '../fixtures/ipc-node.mjs');
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

it('drops a worker whose channel stays backed up past maxBacklogMs, and stops sending to it', async () => {
  const host = new BrokerHost({ maxBacklogMs: 300 });
  await host.start();
  const stuck = new Promise<IpcEndpoint>((resolve) => (host.onStuck = resolve));
  const child = fork(NODE, ['flooded', 'flooded'], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(
    () => child.kill('SIGKILL'),
    () => void host.close(),
  );
  const childSide = childEndpoint(child);
  const ready = new Promise<void>((resolve) => child.on('message', (m: { sb?: string }) => m.sb === 'ready' && resolve()));
  host.accept(childSide);
  await ready;

  // A publisher in this process, on the same host.
  const { port1, port2 } = new MessageChannel();
  host.accept(portEndpoint(port1));
  const publisher = new IpcBroker(portEndpoint(port2));
  await publisher.start(() => {});
  cleanups.push(() => port2.close());

  process.kill(child.pid!, 'SIGSTOP');
  cleanups.push(() => process.kill(child.pid!, 'SIGCONT'));
  const payload = 'x'.repeat(64 * 1024);
  let published = 0;
  let dropped: IpcEndpoint | null = null;
  void stuck.then((endpoint) => (dropped = endpoint));
  // Each publication is 64 KiB to the stopped child; the pipe fills within a few.
  while (!dropped) {
    await publisher.publish('flooded', { payload }, null);
    published++;
    if (published % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(published).toBeLessThan(5_000);
  }
  expect(dropped).toBe(childSide);
  // Dropped: no longer a listener, so further publications are not queued for it.
  const sentAfter = countSends(childSide);
  for (let i = 0; i < 20; i++) await publisher.publish('flooded', { payload }, null);
  expect(sentAfter()).toBe(0);
  expect(host.listenedChannels).toBe(0);

  // Running again, it reads its backlog, then the notice: its channel hears of the gap, and it is unhealthy.
  const told = new Promise((resolve) => child.on('message', (m: { sb?: string }) => m.sb === 'event' && resolve(m)));
  process.kill(child.pid!, 'SIGCONT');
  expect(await told).toEqual({ sb: 'event', channel: 'flooded', kind: 'interrupted', healthy: false });
});

it('holds no channel after a worker’s subscribe and unsubscribe of it arrive together', async () => {
  const host = new BrokerHost();
  await host.start();
  const child = fork(NODE, ['churn', '100'], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  cleanups.push(
    () => child.kill('SIGKILL'),
    () => void host.close(),
  );
  const ready = new Promise<void>((resolve) => child.on('message', (m: { sb?: string }) => m.sb === 'ready' && resolve()));
  host.accept(childEndpoint(child));
  await ready;
  expect(host.listenedChannels).toBe(0);
});

/** How many times `endpoint.send` is called from now on. */
function countSends(endpoint: IpcEndpoint): () => number {
  let count = 0;
  const send = endpoint.send.bind(endpoint);
  endpoint.send = (message) => {
    count++;
    return send(message);
  };
  return () => count;
}
