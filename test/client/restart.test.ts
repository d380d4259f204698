// The server process is killed (SIGKILL: no close frames, no drain) and
// started again on the same port. The client reconnects by itself, learns that
// history was lost (reset), and no request is left hanging.
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { connect, type SwitchboardError } from '../../src/client/node.js';
import { killChildren, runScript } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { recorder } from '../helpers/recorder.js';

const SERVER = join(import.meta.dirname, '../fixtures/rpc-server.mjs');
afterEach(killChildren);

it('reconnects after SIGKILL and a restart, reports reset, and rejects the RPC in flight', async () => {
  const port = await freePort();
  const first = runScript(SERVER, [String(port)]);
  await first.listening;

  const client = connect(`ws://127.0.0.1:${port}/ws`, { reconnect: { initialDelay: 50, maxDelay: 200 } });
  const app = recorder();
  const subscription = client.subscribe('news', app.handler);
  const before = await subscription.ready;
  await client.publish('news', 'before the crash');
  const resets: Array<{ epoch: string | null; recovered: boolean }> = [];
  const reset = new Promise<void>((resolve) =>
    subscription.on('reset', (result) => {
      resets.push(result);
      resolve();
    }),
  );

  const inFlight = client.rpc('hang', null, { timeout: 60_000 });
  const disconnected = new Promise((resolve) => client.on('disconnected', resolve));
  first.child.kill('SIGKILL');
  const error = (await inFlight.catch((e) => e)) as SwitchboardError;
  expect(error.code).toBe('unavailable');
  expect(error.message).toMatch(/connection lost/);
  expect(await disconnected).toMatchObject({ code: 1006, willRetry: true });

  const second = runScript(SERVER, [String(port)]);
  await second.listening;
  await reset;
  expect(resets[0]).toMatchObject({ recovered: false });
  expect(resets[0]!.epoch).not.toBe(before.epoch);

  // Requests made while reconnecting are answered by the new process.
  expect(await client.rpc('echo', 'after the restart')).toBe('after the restart');
  await client.publish('news', 'after the restart');
  await app.until(2);
  expect(app.seen).toEqual(['before the crash', 'after the restart']);
  client.close();
});
