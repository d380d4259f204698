// `switchboard serve` as a process: the listening line, raw clients, config
// errors that name the key, and SIGTERM with 100 clients.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { killChildren, run, serve } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw-client.js';

afterEach(killChildren);

it('prints the listening line, and raw clients subscribe and publish through it', async () => {
  const { url } = await serve();
  expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const sub = await RawClient.connect(`${url.replace('http', 'ws')}/ws`);
  expect(sub.frames[0]!.type).toBe('welcome');
  sub.send({ type: 'subscribe', channel: 'updates' });
  const pub = await RawClient.connect(`${url.replace('http', 'ws')}/ws`);
  // Fire-and-forget subscribe has no reply; wait until a ping behind it is answered.
  await sub.alive();
  pub.send({ type: 'publish', channel: 'updates', payload: { hello: 'world' } });
  expect((await sub.next((f) => f.type === 'message')).payload).toEqual({ hello: 'world' });
});

it('prints where the demo page is, and the admin dashboard when an API key turns it on', async () => {
  const plain = await serve();
  await expect.poll(() => plain.stdout()).toMatch(new RegExp(`^switchboard listening on ${plain.url}\\n  demo page  ${plain.url}/\\n`));
  expect(plain.stdout()).not.toContain('admin');
  expect((await fetch(`${plain.url}/`)).status).toBe(200);
  const keyed = await serve(['--api-key', 'k']);
  await expect.poll(() => keyed.stdout()).toContain(`  admin      ${keyed.url}/admin (sign in with the API key)\n`);
  expect((await fetch(`${keyed.url}/admin`)).status).toBe(200);
});

it('reads flags from SWITCHBOARD_* variables', async () => {
  const { url } = await serve([], { SWITCHBOARD_API_KEY: 'k1' });
  const res = await fetch(`${url}/api/stats`, { headers: { Authorization: 'apikey k1' } });
  expect(res.status).toBe(200);
});

it('stops with a message naming the key of a bad config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ limits: { maxPayload: 'big' }, colour: 'red' }));
  const { exited } = run(['serve', '--config', file]);
  const result = await exited;
  expect(result.code).toBe(2);
  expect(result.stderr).toContain('limits.maxPayload');
  expect(result.stderr).toContain('colour: unknown key');
});

it('lets flags override the config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ port: 1, path: '/realtime' }));
  const { url } = await serve(['--config', file]);
  const client = await RawClient.connect(`${url.replace('http', 'ws')}/realtime`);
  await client.close();
});

it.each(['SIGTERM', 'SIGINT'] as const)('drains on %s: 100 clients get 1012 with a retry hint and the process exits 0 within 5 s', async (signal) => {
  const { child, url, exited } = await serve();
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const clients = await Promise.all(Array.from({ length: 100 }, () => RawClient.connect(wsUrl)));
  child.kill(signal);
  const deadline = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running after 5 s')), 5_000));
  const [closes, exit] = await Promise.race([Promise.all([Promise.all(clients.map((c) => c.closed)), exited]), deadline]);
  expect(closes.map((c) => c.code)).toEqual(Array(100).fill(1012));
  for (const { reason } of closes) expect(reason).toMatch(/^\{"retryIn":\d+\}$/);
  expect(exit.code).toBe(0);
});
