// `switchboard publish` against a real server: JSON or an error, --raw,
// standard input, and --lines.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { killChildren, tool } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ apiKey: 'k', namespaces: { '': { subscribe: 'anyone', publish: 'anyone', history: { size: 100, ttl: 60_000 } } } });
});
afterAll(() => srv.close());
afterEach(killChildren);

const publish = (args: string[], stdin?: string) => tool(['publish', ...args, '--api-key', 'k', '--url', srv.url], stdin === undefined ? {} : { stdin }).exited;
const payloads = async (channel: string) => (await srv.server.operations.history(channel, { limit: 100 })).publications.map((p) => p.payload);

it('publishes a JSON argument and prints the offset', async () => {
  const { code, stdout } = await publish(['a', '{"headline":"hi"}']);
  expect(code).toBe(0);
  expect(JSON.parse(stdout)).toEqual({ offset: 1 });
  expect(await payloads('a')).toEqual([{ headline: 'hi' }]);
});

it('refuses a payload that is not JSON, naming the problem, exit 2, and publishes nothing', async () => {
  const { code, stdout, stderr } = await publish(['b', '{text:"typo"}']);
  expect(code).toBe(2);
  expect(stdout).toBe('');
  expect(stderr).toMatch(/^switchboard publish: payload is not JSON \(.*position 1.*\); use --raw to send it as a string\n$/);
  expect(await payloads('b')).toEqual([]);
});

it('--raw sends the text as a string', async () => {
  expect((await publish(['c', '{text:"typo"}', '--raw'])).code).toBe(0);
  expect(await payloads('c')).toEqual(['{text:"typo"}']);
});

it.each([[[]], [['-']]])('reads the payload from stdin with %j', async (extra) => {
  const channel = `d${extra.length}`;
  const { code } = await publish([channel, ...extra], '{"from":"stdin"}\n');
  expect(code).toBe(0);
  expect(await payloads(channel)).toEqual([{ from: 'stdin' }]);
});

it('refuses empty stdin', async () => {
  const { code, stderr } = await publish(['e'], '');
  expect(code).toBe(2);
  expect(stderr).toContain('standard input is empty');
});

it('--lines publishes each non-empty line in order', async () => {
  const { code, stdout } = await publish(['f', '--lines'], '{"n":1}\n\n2\n"three"\n');
  expect(code).toBe(0);
  expect(
    stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
  ).toEqual([{ offset: 1 }, { offset: 2 }, { offset: 3 }]);
  expect(await payloads('f')).toEqual([{ n: 1 }, 2, 'three']);
});

it('--lines names a line that is not JSON or that the API refuses, goes on, and exits 1 at the end', async () => {
  const { code, stdout, stderr } = await publish(['g', '--lines'], `1\nnope\n3\n"${'x'.repeat(1_100_000)}"\n5\n`);
  expect(code).toBe(1);
  const errors = stderr.trim().split('\n');
  expect(errors).toHaveLength(2);
  expect(errors[0]).toMatch(/^switchboard publish: line 2 is not JSON \(.+\); use --raw to send it as a string; skipped$/);
  expect(errors[1]).toMatch(/^switchboard publish: line 4 refused: 413 payload_too_large: .+; skipped$/);
  expect(stdout.trim().split('\n')).toHaveLength(3);
  expect(await payloads('g')).toEqual([1, 3, 5]);
});

it('--lines --raw publishes lines as strings', async () => {
  expect((await publish(['h', '--lines', '--raw'], 'one\ntwo\n')).code).toBe(0);
  expect(await payloads('h')).toEqual(['one', 'two']);
});

it('reports the API refusal with its status, exit 1', async () => {
  const { code, stderr } = await tool(['publish', 'i', '1', '--api-key', 'wrong', '--url', srv.url]).exited;
  expect(code).toBe(1);
  expect(stderr).toMatch(/^switchboard publish: 403 forbidden: /);
  const bad = await publish(['bad channel!', '1']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/400 bad_request: channel: invalid channel name/);
});

it('says when nothing listens', async () => {
  const url = `http://127.0.0.1:${await freePort()}`;
  const { code, stderr } = await tool(['publish', 'j', '1', '--api-key', 'k', '--url', url]).exited;
  expect(code).toBe(1);
  expect(stderr).toBe(`switchboard publish: cannot reach ${url}: ECONNREFUSED\n`);
});
