// `switchboard connect` piped: JSON lines in and out, open until the server
// closes or a signal; headers, origin, token, msgpack, --since, --reconnect.
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { killChildren, tool, type Tool } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({
    apiKey: 'k',
    jwtSecret: SECRET,
    namespaces: {
      '': { subscribe: 'anyone', publish: 'anyone', history: { size: 100, ttl: 60_000 } },
      private: { subscribe: 'authenticated', publish: 'authenticated' },
    },
  });
});
afterAll(() => srv.close());
afterEach(killChildren);

const connect = (args: string[], stdin?: string): Tool => tool(['connect', srv.wsUrl, ...args], stdin === undefined ? {} : { stdin });
const frames = (t: Tool) =>
  t
    .output()
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

it('sends input lines, prints frames, and stays open after its input ends until the server closes', async () => {
  const c = connect(['--subscribe', 'news'], '{"type":"ping","id":"typed"}\n');
  expect(JSON.parse(await c.line(/"type":"welcome"/)).type).toBe('welcome');
  expect(JSON.parse(await c.line(/"typed"/))).toEqual({ type: 'pong', id: 'typed' });
  await c.line(/"id":"subscribe:news"/);
  // stdin has ended; the console is still there and receives a publication
  await srv.server.publish('news', { headline: 'hi' });
  expect(JSON.parse(await c.line(/"type":"message"/))).toEqual({ type: 'message', channel: 'news', offset: 1, payload: { headline: 'hi' } });
  const client = (frames(c)[0]!.payload as { client: string }).client;
  await srv.server.operations.disconnect({ client }, 4003, 'bye');
  const { code, stderr } = await c.exited;
  expect(code).toBe(1);
  expect(stderr).toContain('closed 4003 "bye": disconnected by the server: do not reconnect (advice: do not reconnect)');
});

it('with stdin at end of file from the start, it still stays until a signal, then exits 0 with 1000', async () => {
  const c = connect([], '');
  await c.line(/"type":"welcome"/);
  c.child.kill('SIGTERM');
  const { code, stderr } = await c.exited;
  expect(code).toBe(0);
  expect(stderr).toContain('closed 1000');
});

it('--close-on-eof closes after the answers to what was sent', async () => {
  const c = connect(['--close-on-eof'], '{"type":"publish","id":1,"channel":"eof","payload":1}\nnot json\n');
  const { code, stderr } = await c.exited;
  expect(code).toBe(0);
  // The raw console sends what it is given; the bad line's error (answered at once) and the
  // publish's reply (answered once stored) may come in either order.
  const answers = frames(c).filter((f) => f.type === 'reply' || f.type === 'error');
  expect(frames(c)[0]!.type).toBe('welcome');
  expect(answers).toHaveLength(2);
  expect(answers).toContainEqual({ type: 'reply', id: 1, ok: true, payload: { offset: 1 } });
  expect((answers.find((f) => f.type === 'error') as { error: { code: string } }).error.code).toBe('bad_request');
  expect(stderr).toContain('closed 1000');
  // Its own end-of-input ping is not printed.
  expect(c.output().stdout).not.toContain('connect:eof');
});

it('--close-on-eof waits for the answer to every id sent, whatever order they come in, and prints only those', async () => {
  const input = Array.from({ length: 20 }, (_, i) => `{"type":"publish","id":${i + 1},"channel":"eof-many","payload":${i}}`);
  input.push('{"type":"ping","id":"last"}');
  const c = connect(['--close-on-eof'], `${input.join('\n')}\n`);
  const { code } = await c.exited;
  expect(code).toBe(0);
  const answers = frames(c).filter((f) => f.type !== 'welcome');
  expect(answers.map((f) => f.id).sort()).toEqual([...Array.from({ length: 20 }, (_, i) => i + 1), 'last'].sort());
  expect(answers.filter((f) => f.type === 'reply').every((f) => f.ok === true)).toBe(true);
});

it('names a refused --subscribe channel on stderr', async () => {
  const c = connect(['--subscribe', 'news,private:room']);
  expect(await c.line(/subscribe to private:room refused: /, 'stderr')).toMatch(/^subscribe to private:room refused: (unauthorized|forbidden): ./);
  c.child.kill('SIGINT');
  expect((await c.exited).code).toBe(0);
});

it('--token authenticates; --header sends any header', async () => {
  const token = await sign({ sub: 'ann' });
  const withToken = connect(['--token', token, '--subscribe', 'private:room']);
  expect(JSON.parse(await withToken.line(/"type":"welcome"/)).payload.user).toBe('ann');
  expect(JSON.parse(await withToken.line(/"id":"subscribe:private:room"/)).ok).toBe(true);
  const withHeader = connect(['--header', `Authorization: Bearer ${await sign({ sub: 'bo' })}`]);
  expect(JSON.parse(await withHeader.line(/"type":"welcome"/)).payload.user).toBe('bo');
});

it("--origin is checked like a browser's; a refused handshake prints status and body, exit 1", async () => {
  const c = connect(['--origin', 'https://evil.example']);
  const { code, stderr } = await c.exited;
  expect(code).toBe(1);
  expect(stderr).toMatch(/^refused: 403 .*forbidden_origin/);
  const ok = connect(['--origin', 'http://localhost:3000']);
  await ok.line(/"type":"welcome"/);
});

it('--msgpack speaks MessagePack and shows frames as JSON', async () => {
  const c = connect(['--msgpack'], '{"type":"publish","id":7,"channel":"mp","payload":{"n":1}}\n');
  await c.line(/"type":"welcome"/);
  expect(JSON.parse(await c.line(/"id":7/))).toEqual({ type: 'reply', id: 7, ok: true, payload: { offset: 1 } });
});

it('--since resumes after a position', async () => {
  for (const n of [1, 2, 3]) await srv.server.publish('resume', { n });
  const history = await srv.server.operations.history('resume', { limit: 10 });
  const c = connect(['--subscribe', 'resume', '--since', `${history.epoch}:1`]);
  await c.line(/"payload":\{"n":3\}/);
  const messages = frames(c).filter((f) => f.type === 'message');
  expect(messages.map((m) => m.offset)).toEqual([2, 3]);
  expect(frames(c).find((f) => f.type === 'reply')).toMatchObject({ ok: true, payload: { recovered: true } });
});

it('--reconnect comes back after a 4000 close, resubscribes, and prints a reset when recovery fails', async () => {
  const c = connect(['--reconnect', '--subscribe', 'again', '--since', 'no-such-epoch:5']);
  await c.line(/^reset: again could not be recovered/, 'stderr');
  const first = JSON.parse(await c.line(/"type":"welcome"/)).payload.client as string;
  await srv.server.operations.disconnect({ client: first }, 4000, 'move along');
  await c.line(/^disconnected 4000 "move along"; reconnecting in \d+\.\d s$/, 'stderr');
  await c.line(/^connected$/, 'stderr');
  // Subscribed again on the new connection (the second subscribe reply): a publication reaches it.
  await c.line(/"type":"reply".*"channel":"again"/, 'stdout', 2);
  await srv.server.publish('again', 'after');
  expect(JSON.parse(await c.line(/"payload":"after"/)).channel).toBe('again');
});
