// What publishers write must not drive the operator's terminal (issue 19):
// on a pseudo-terminal made by util-linux `script`, `history`, `presence` and
// `connect` show ESC, OSC, C1, DEL and bidi controls as visible escapes; piped,
// their output stays byte-exact.
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BIN, killChildren, tool } from '../helpers/cli.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { requireCommand } from '../helpers/services.js';
import { SECRET, sign } from '../helpers/tokens.js';

const haveScript = requireCommand('script', 'apt-get install util-linux');

// Clear the screen, set the title, write the clipboard (OSC 52), C1 CSI and
// OSC (what VS Code's terminal obeys), DEL, a right-to-left override, a tab, a newline.
const TEXT = '\x1b[2J\x1b]0;pwned\x07\x1b]52;c;cHduZWQ=\x07\u009b31m\u009d0;pwned\u009c\x7f\u202etxt.exe\tnext\nline';
const SHOWN = String.raw`\u001b[2J\u001b]0;pwned\u0007\u001b]52;c;cHduZWQ=\u0007\u009b31m\u009d0;pwned\u009c\u007f\u202etxt.exe\tnext\nline`;
const USER = 'ann\x1b]0;pwned\x07\u009b2J\u202e';
const USER_SHOWN = String.raw`ann\u001b]0;pwned\u0007\u009b2J\u202e`;
const REASON = '\x1b]0;bye\x07\u009d\u202e';
const REASON_SHOWN = String.raw`\u001b]0;bye\u0007\u009d\u202e`;
/** Any control character but the pseudo-terminal's own \r\n. */
const RAW_CONTROL = /[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

let srv: TestServer;
const clients: RawClient[] = [];
beforeAll(async () => {
  srv = await startServer({
    apiKey: 'k',
    jwtSecret: SECRET,
    namespaces: { '': { subscribe: 'anyone', publish: 'anyone', history: { size: 10, ttl: 60_000 } }, chat: { presence: true } },
  });
});
afterAll(() => srv.close());
afterEach(async () => {
  killChildren();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function client(token?: string): Promise<RawClient> {
  const c = await RawClient.connect(token ? `${srv.wsUrl}?token=${token}` : srv.wsUrl);
  clients.push(c);
  return c;
}

/** The anonymous publisher of the issue, and one whose user id is hostile too. */
async function publishHostile(channel: string): Promise<void> {
  await (await client()).ok({ type: 'publish', channel, payload: TEXT });
  await (await client(await sign({ sub: USER }))).ok({ type: 'publish', channel, payload: { note: TEXT } });
}

/** `switchboard ARGS` in a pseudo-terminal: stdout and stderr both a TTY; `script -e` exits with its code. */
function onTerminal(args: string[]) {
  return tool(['-qfec', [process.execPath, BIN, ...args].join(' '), '/dev/null'], {
    command: ['script'],
    env: { HOME: mkdtempSync(join(tmpdir(), 'sb-home-')), TERM: 'xterm-256color' },
  });
}

const api = () => ['--api-key', 'k', '--url', srv.url];

it.skipIf(!haveScript)('history on a terminal shows payloads and user ids with their controls escaped', async () => {
  await publishHostile('news');
  const { code, stdout } = await onTerminal(['history', 'news', ...api()]).exited;
  expect(code).toBe(0);
  expect(stdout).not.toMatch(RAW_CONTROL);
  const rows = stdout.split('\r\n');
  expect(rows[2]).toMatch(new RegExp(`^1\\s+\\{"client":"[^"]+","user":null\\}\\s+${escapeRegExp(SHOWN)}$`));
  expect(rows[3]).toMatch(new RegExp(`^2\\s+${escapeRegExp(USER_SHOWN)}\\s+${escapeRegExp(`{"note":"${SHOWN}"}`)}$`));
});

it.skipIf(!haveScript)('presence on a terminal shows user ids and info with their controls escaped', async () => {
  const member = await client(await sign({ sub: USER, info: { name: TEXT } }));
  await member.ok({ type: 'subscribe', channel: 'chat:lobby' });
  const { code, stdout } = await onTerminal(['presence', 'chat:lobby', ...api()]).exited;
  expect(code).toBe(0);
  expect(stdout).not.toMatch(RAW_CONTROL);
  expect(stdout.split('\r\n')[1]).toMatch(new RegExp(`^\\S+\\s+${escapeRegExp(USER_SHOWN)}\\s+${escapeRegExp(`{"name":"${SHOWN}"}`)}$`));
});

it.skipIf(!haveScript)('connect on a terminal escapes them in frames and in the close reason', async () => {
  const t = onTerminal(['connect', srv.wsUrl]);
  const welcome = await t.line(/welcome/);
  t.child.stdin!.write('/sub live\n');
  await t.line(/reply.*id=1/);
  await publishHostile('live');
  expect(await t.line(/message.*live.*#1/)).toContain(`"${SHOWN}"`);
  expect(await t.line(/message.*live.*#2/)).toContain(`"user":"${USER_SHOWN}"`);
  await srv.server.operations.disconnect({ client: /"client":"([^"]+)"/.exec(welcome)![1]! }, 4003, REASON);
  const { code, stdout } = await t.exited;
  expect(code).toBe(1);
  expect(stdout).toContain(`closed 4003 "${REASON_SHOWN}": disconnected by the server`);
  // The console's own colour and line-editing sequences stay; nothing of the publisher's acts.
  expect(stdout).not.toMatch(/[\x07\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\x1b\]|\x1b\[2J/);
});

it.skipIf(!haveScript)('connect --json on a terminal escapes them too, and each line still parses to what was sent', async () => {
  const t = onTerminal(['connect', srv.wsUrl, '--json', '--subscribe', 'json']);
  const welcome = await t.line(/"welcome"/);
  await t.line(/"subscribe:json"/);
  await publishHostile('json');
  const first = await t.line(/"message".*"offset":1/);
  expect(first).toContain(`"${SHOWN}"`);
  expect(JSON.parse(first.replace(/\r$/, '')).payload).toBe(TEXT);
  await srv.server.operations.disconnect({ client: /"client":"([^"]+)"/.exec(welcome)![1]! }, 4003, REASON);
  const { code, stdout } = await t.exited;
  expect(code).toBe(1);
  expect(stdout).toContain(`closed 4003 "${REASON_SHOWN}"`);
  expect(stdout).not.toMatch(RAW_CONTROL);
});

it.skipIf(!haveScript)("an error answer from whatever is at --url is escaped on a terminal's stderr", async () => {
  const proxy = createServer((_req, res) => res.writeHead(502).end(TEXT));
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = proxy.address() as { port: number };
    const { code, stdout } = await onTerminal(['stats', '--api-key', 'k', '--url', `http://127.0.0.1:${port}`]).exited;
    expect(code).toBe(1);
    expect(stdout).toBe(`switchboard stats: 502: ${SHOWN}\r\n`);
  } finally {
    proxy.close();
  }
});

it('piped, history, presence and connect print what was sent byte for byte, as before', async () => {
  await publishHostile('piped');
  const table = await tool(['history', 'piped', ...api()]).exited;
  expect(table.stdout).toMatch(
    new RegExp(
      `\\n1\\s+\\{"client":"[^"]+","user":null\\}\\s+${escapeRegExp(TEXT)}\\n2\\s+${escapeRegExp(USER)}\\s+${escapeRegExp(`{"note":${JSON.stringify(TEXT)}}`)}\\n`,
    ),
  );
  const json = await tool(['history', 'piped', '--json', ...api()]).exited;
  const answer = await (await fetch(`${srv.url}/api/history?channel=piped`, { headers: { Authorization: 'apikey k' } })).json();
  expect(json.stdout).toBe(`${JSON.stringify(answer, null, 2)}\n`);
  expect(json.stdout).toContain('\u009b31m\u009d0;pwned\u009c\x7f\u202e'); // JSON leaves C1, DEL and bidi as they are

  const member = await client(await sign({ sub: USER, info: { name: TEXT } }));
  await member.ok({ type: 'subscribe', channel: 'chat:piped' });
  const presence = await tool(['presence', 'chat:piped', ...api()]).exited;
  expect(presence.stdout).toMatch(new RegExp(`\\n\\S+\\s+${escapeRegExp(USER)}\\s+${escapeRegExp(JSON.stringify({ name: TEXT }))}\\n`));

  const t = tool(['connect', srv.wsUrl, '--subscribe', 'piped']);
  await t.line(/"subscribe:piped"/);
  await (await client()).ok({ type: 'publish', channel: 'piped', payload: TEXT });
  expect(await t.line(/"message"/)).toContain(JSON.stringify(TEXT));
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
