// `switchboard connect` and `switchboard publish` against a served process.
import { spawn } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { BIN, killChildren, serve } from '../helpers/cli.js';

afterEach(killChildren);

function tool(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const lineMatching = (pattern: RegExp) =>
    new Promise<string>((resolve) => {
      const check = () => {
        const line = stdout.split('\n').find((l) => pattern.test(l));
        if (line) resolve(line);
      };
      child.stdout.on('data', check);
      check();
    });
  return { child, exited, lineMatching, output: () => ({ stdout, stderr }) };
}

it('connect prints frames and sends input lines; publish goes through the HTTP API', async () => {
  const { url } = await serve(['--api-key', 'k']);
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  const console_ = tool(['connect', wsUrl, '--subscribe', 'news']);
  expect(JSON.parse(await console_.lineMatching(/"type":"welcome"/)).type).toBe('welcome');
  console_.child.stdin.write('{"type":"ping","id":"typed by hand"}\n');
  expect(JSON.parse(await console_.lineMatching(/typed by hand/))).toEqual({ type: 'pong', id: 'typed by hand' });

  const publisher = tool(['publish', 'news', '{"headline":"hi"}', '--api-key', 'k', '--url', url]);
  expect(await publisher.exited).toBe(0);
  expect(JSON.parse(publisher.output().stdout)).toEqual({ offset: 1 });
  const message = JSON.parse(await console_.lineMatching(/"type":"message"/));
  expect(message).toEqual({ type: 'message', channel: 'news', offset: 1, payload: { headline: 'hi' } });

  console_.child.stdin.end();
  expect(await console_.exited).toBe(0);
  expect(console_.output().stderr).toContain('closed: 1000');
});

it('connect reports a refused handshake with its status and body', async () => {
  const { url } = await serve();
  const refused = tool(['connect', `${url.replace('http', 'ws')}/nowhere`]);
  expect(await refused.exited).toBe(1);
  expect(refused.output().stderr).toMatch(/refused: 404 .*not_found/);
});

it('publish fails with the API error without a valid key', async () => {
  const { url } = await serve(['--api-key', 'k']);
  const publisher = tool(['publish', 'news', '1', '--api-key', 'wrong', '--url', url]);
  expect(await publisher.exited).toBe(1);
  expect(publisher.output().stderr).toMatch(/403: .*forbidden/);
});
