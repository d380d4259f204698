// examples/cluster.mjs: an app's own Node cluster with `switchboard/workers`
// (a BrokerHost in the primary, an IpcBroker in each worker). A publication
// made on one worker reaches a subscriber on the other, and SIGTERM drains.
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { killChildren, runScript } from '../helpers/cli.js';
import type { RawClient } from '../helpers/raw-client.js';
import { clientPerWorker } from '../helpers/workers.js';

const EXAMPLE = join(import.meta.dirname, '../../examples/cluster.mjs');
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  killChildren();
});

it('shares channels between the workers of an app’s own cluster, and drains on SIGTERM', async () => {
  const app = runScript(EXAMPLE, [], { PORT: '0', WORKERS: '2' });
  const url = await app.listening;
  expect(await (await fetch(`${url}/anything`)).text()).toMatch(/^hello from worker \d+/);
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const [a, b] = (await clientPerWorker(wsUrl, 2, clients)) as [RawClient, RawClient];
  await a.ok({ type: 'subscribe', channel: 'news' });
  expect(await b.ok({ type: 'publish', channel: 'news', payload: 'from b' })).toEqual({ offset: 1 });
  expect(await a.next((f) => f.type === 'message')).toMatchObject({ channel: 'news', payload: 'from b', offset: 1 });

  app.child.kill('SIGTERM');
  expect((await a.closed).code).toBe(1012);
  expect((await app.exited).code).toBe(0);
});
