// Help, version and bad command lines, for every command: help on stdout with
// exit 0; a mistake is one line on stderr naming it, with exit 2.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, tool } from '../helpers/cli.js';

afterEach(killChildren);

const COMMANDS = ['serve', 'connect', 'publish', 'history', 'presence', 'stats', 'nodes', 'disconnect', 'check-config', 'check-token', 'token', 'bench'];

describe.each(COMMANDS)('%s', (name) => {
  it.each(['--help', '-h'])(`${name} %s prints usage, flags with defaults and examples to stdout, exit 0`, async (flag) => {
    const { code, stdout, stderr } = await tool([name, flag]).exited;
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(stdout).toMatch(new RegExp(`^usage: switchboard ${name}`));
    expect(stdout).toContain('options:');
    expect(stdout).toContain('-h, --help');
    const examples = stdout
      .slice(stdout.indexOf('examples:'))
      .split('\n')
      .filter((l) => l.startsWith(`  switchboard ${name}`) || l.includes(`| switchboard ${name}`) || l.includes(`switchboard ${name} `));
    expect(examples.length).toBeGreaterThanOrEqual(2);
  });

  it(`${name} with an unknown flag names it in one line, exit 2`, async () => {
    const { code, stdout, stderr } = await tool([name, '--frobnicate']).exited;
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(`switchboard ${name}: unknown option '--frobnicate'\n`);
  });
});

it.each(['publish', 'history', 'presence', 'stats', 'nodes', 'disconnect'])('every example of %s gives the API key it requires', async (name) => {
  const { stdout } = await tool([name, '--help']).exited;
  const examples = stdout
    .slice(stdout.indexOf('examples:'))
    .split('\n')
    .filter((l) => l.includes(`switchboard ${name}`));
  expect(examples.length).toBeGreaterThanOrEqual(2);
  for (const example of examples) expect(example).toMatch(/--api-key |SWITCHBOARD_API_KEY=/);
});

it('shows defaults in help', async () => {
  const { stdout } = await tool(['bench', '--help']).exited;
  expect(stdout).toMatch(/--duration SEC\s+measured window \(default 10\)/);
  expect((await tool(['publish', '--help']).exited).stdout).toMatch(/--url URL .*default http:\/\/127\.0\.0\.1:8080; env SWITCHBOARD_URL/);
});

it.each([[[]], [['--help']], [['-h']], [['help']]])('top-level %j prints the command list to stdout, exit 0', async (args) => {
  const { code, stdout, stderr } = await tool(args).exited;
  expect(code).toBe(0);
  expect(stderr).toBe('');
  expect(stdout).toMatch(/^usage: switchboard <command>/);
  for (const name of COMMANDS) expect(stdout).toContain(`  ${name} `);
});

it('help COMMAND is COMMAND --help', async () => {
  const a = await tool(['help', 'publish']).exited;
  const b = await tool(['publish', '--help']).exited;
  expect(a.code).toBe(0);
  expect(a.stdout).toBe(b.stdout);
});

it.each(['--version', '-v'])('%s prints the package version, exit 0', async (flag) => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const { code, stdout } = await tool([flag]).exited;
  expect(code).toBe(0);
  expect(stdout).toBe(`${version}\n`);
});

it.each([
  [['frob'], "switchboard: unknown command 'frob' (see switchboard --help)"],
  [['--frob'], "switchboard: unknown option '--frob' (see switchboard --help)"],
  [['help', 'frob'], "switchboard: unknown command 'frob' (see switchboard --help)"],
  [['publish'], 'switchboard publish: missing CHANNEL (usage: switchboard publish CHANNEL [JSON|-])'],
  [['publish', 'a', '1', 'extra'], "switchboard publish: unexpected argument 'extra' (usage: switchboard publish CHANNEL [JSON|-])"],
  [['connect', 'ws://x/ws', '--header'], "switchboard connect: option '--header <value>' argument missing"],
  [['connect', 'http://127.0.0.1:1/ws'], "switchboard connect: URL must start with ws:// or wss://, got 'http:'"],
  [['bench', 'ws://127.0.0.1:1/ws', '-s', 'storm'], "switchboard bench: --scenario: expected one of fanout, echo, connect, idle, broadcast, got 'storm'"],
  [['bench', 'ws://127.0.0.1:1/ws', '-n', 'many'], "switchboard bench: --connections: expected an integer ≥ 1, got 'many'"],
  [['token', '--sub', 'x'], 'switchboard token: missing --jwt-secret (or SWITCHBOARD_JWT_SECRET)'],
  [['stats'], 'switchboard stats: missing --api-key (or SWITCHBOARD_API_KEY)'],
  [['disconnect', '--api-key', 'k'], 'switchboard disconnect: give exactly one of --user or --client'],
])('%j: one line, exit 2', async (args, message) => {
  const { code, stdout, stderr } = await tool(args, { env: { SWITCHBOARD_API_KEY: '', SWITCHBOARD_JWT_SECRET: '' } }).exited;
  expect(stdout).toBe('');
  expect(stderr).toBe(`${message}\n`);
  expect(code).toBe(2);
});
