#!/usr/bin/env node
// `switchboard <command>`: one file per command; this one dispatches, prints
// the top-level help and version, and turns errors into one line and an exit code.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../server/config-error.js';
import { parseCommand, UsageError, type Command } from './args.js';
import { safeFor } from './terminal-safe.js';

// Each command's module is loaded when that command runs (or when a help
// lists them all): `serve` starts without reading the client SDK, the bench
// or jose's signing, and `publish` without the server.
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serve,
  connect: async () => (await import('./connect/index.js')).connect,
  publish: async () => (await import('./publish.js')).publish,
  history: async () => (await import('./history.js')).history,
  presence: async () => (await import('./presence.js')).presence,
  stats: async () => (await import('./stats.js')).stats,
  nodes: async () => (await import('./nodes.js')).nodes,
  disconnect: async () => (await import('./disconnect.js')).disconnect,
  'check-config': async () => (await import('./check-config.js')).checkConfig,
  'check-token': async () => (await import('./check-token.js')).checkToken,
  token: async () => (await import('./token.js')).token,
  bench: async () => (await import('./bench/index.js')).bench,
};

function load(name: string): Promise<Command> | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name]!() : undefined;
}

function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((command) => command()));
  const width = Math.max(...commands.map((c) => c.spec.name.length)) + 2;
  return [
    'usage: switchboard <command> [options]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary.split('. ')[0]!.replace(/\.$/, '')}`),
    '',
    'options:',
    "  -h, --help     this help; `switchboard <command> --help` for a command's flags",
    '  -v, --version  print the version',
    '',
    'examples:',
    '  switchboard serve --port 8080 --api-key dev-key',
    '  switchboard connect ws://127.0.0.1:8080/ws --subscribe news',
    '  echo \'{"headline":"hi"}\' | switchboard publish news --api-key dev-key',
    '',
  ].join('\n');
}

function fail(name: string | undefined, error: unknown): never {
  // A message can carry the server's words (an API error, a close reason).
  const message = safeFor(process.stderr)(error instanceof Error ? error.message : String(error));
  process.stderr.write(`switchboard${name ? ` ${name}` : ''}: ${message}\n`);
  process.exit(error instanceof UsageError || error instanceof ConfigError ? 2 : 1);
}

const [first, ...rest] = process.argv.slice(2);
if (first === undefined || first === '--help' || first === '-h') {
  process.stdout.write(await usage());
} else if (first === '--version' || first === '-v') {
  process.stdout.write(`${version()}\n`);
} else if (first === 'help') {
  const target = rest[0] === undefined ? undefined : load(rest[0]);
  if (rest[0] !== undefined && !target) fail(undefined, new UsageError(`unknown command '${rest[0]}' (see switchboard --help)`));
  if (target) parseCommand((await target).spec, ['--help']);
  else process.stdout.write(await usage());
} else {
  const loading = load(first);
  if (!loading) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    fail(undefined, new UsageError(`${what} (see switchboard --help)`));
  }
  const command = await loading;
  try {
    const parsed = parseCommand(command.spec, rest);
    if (parsed) await command.run(parsed);
  } catch (error) {
    fail(first, error);
  }
}
