// `switchboard connect` on a terminal, through a pseudo-terminal made by
// util-linux `script`: slash commands, coloured frames with time and
// direction, and the close code with its meaning on exit.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BIN, killChildren, tool } from '../helpers/cli.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { requireCommand } from '../helpers/services.js';

const haveScript = requireCommand('script', 'apt-get install util-linux');

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ namespaces: { '': { subscribe: 'anyone', publish: 'anyone', history: { size: 10, ttl: 60_000 } } } });
});
afterAll(() => srv.close());
afterEach(killChildren);

/** The console in a pseudo-terminal; `script -e` exits with its exit code. */
function terminal() {
  const command = `${process.execPath} ${BIN} connect ${srv.wsUrl}`;
  return tool(['-qfec', command, '/dev/null'], {
    command: ['script'],
    // A terminal user's environment: CI=true (as CI runs) makes Node report no colours.
    env: { HOME: mkdtempSync(join(tmpdir(), 'sb-home-')), TERM: 'xterm-256color', NO_COLOR: undefined, CI: undefined },
  });
}

const TIME = String.raw`\d\d:\d\d:\d\d\.\d{3}`;

it.skipIf(!haveScript)('runs slash commands and prints coloured frames with time and direction; /quit closes with 1000', async () => {
  const t = terminal();
  expect(await t.line(/welcome/)).toMatch(new RegExp(`${TIME}.*←.*welcome.*"client":`));
  t.child.stdin!.write('/sub news\n');
  await t.line(/reply.*id=1.*"channel":"news"/);
  await srv.server.publish('news', { headline: 'hi' });
  const message = await t.line(/message.*news/);
  expect(message).toMatch(new RegExp(`${TIME}.*←.*message.*news.*#1.*\\{"headline":"hi"\\}`));
  expect(message).toContain('\x1b[32m'); // messages in green
  t.child.stdin!.write('/pub news {"n":2}\n');
  expect(await t.line(/→.*publish/)).toMatch(new RegExp(`${TIME}.*→.*publish.*news.*id=2.*\\{"n":2\\}`));
  await t.line(/reply.*id=2.*"offset":2/);
  t.child.stdin!.write('/history news 5\n');
  await t.line(/reply.*id=3.*"publications":\[\{"payload":\{"headline":"hi"\}.*"offset":1/);
  t.child.stdin!.write('/presence news\n');
  expect(await t.line(/reply.*id=4/)).toMatch(/not_found: /); // presence is off on this namespace: shown in red
  t.child.stdin!.write('/nonsense\n');
  await t.line(/unknown command \/nonsense; \/help lists them/);
  t.child.stdin!.write('/quit\n');
  const { code, stdout } = await t.exited;
  expect(stdout).toContain('closed 1000 "bye": normal closure');
  expect(code).toBe(0);
});

it.skipIf(!haveScript)('shows the close code and its meaning when the server closes, exit 1', async () => {
  const t = terminal();
  const welcome = await t.line(/welcome/);
  const client = /"client":"([^"]+)"/.exec(welcome)![1]!;
  await srv.server.operations.disconnect({ client }, 4008, 'too slow');
  const { code, stdout } = await t.exited;
  expect(stdout).toContain('closed 4008 "too slow": slow consumer: the outbound buffer overflowed (advice: reconnect after a backoff)');
  expect(code).toBe(1);
});
