#!/usr/bin/env node
// `switchboard <command>`: one file per command; this one dispatches, prints
// the top-level help and version, and turns errors into one line and an exit code.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../server/config.js';
import { parseCommand, UsageError, type Command } from './args.js';
import { bench } from './bench/index.js';
import { checkConfig } from './check-config.js';
import { checkToken } from './check-token.js';
import { connect } from './connect/index.js';
import { disconnect } from './disconnect.js';
import { history } from './history.js';
import { nodes } from './nodes.js';
import { presence } from './presence.js';
import { publish } from './publish.js';
import { serve } from './serve.js';
import { stats } from './stats.js';
import { safeFor } from './terminal-safe.js';
import { token } from './token.js';

const COMMANDS: Command[] = [serve, connect, publish, history, presence, stats, nodes, disconnect, checkConfig, checkToken, token, bench];
const byName = new Map(COMMANDS.map((c) => [c.spec.name, c]));

function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    'usage: switchboard <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary.split('. ')[0]!.replace(/\.$/, '')}`),
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
  process.stdout.write(usage());
} else if (first === '--version' || first === '-v') {
  process.stdout.write(`${version()}\n`);
} else if (first === 'help') {
  const target = rest[0] === undefined ? undefined : byName.get(rest[0]);
  if (rest[0] !== undefined && !target) fail(undefined, new UsageError(`unknown command '${rest[0]}' (see switchboard --help)`));
  if (target) parseCommand(target.spec, ['--help']);
  else process.stdout.write(usage());
} else {
  const command = byName.get(first);
  if (!command) {
    const what = first.startsWith('-') ? `unknown option '${first}'` : `unknown command '${first}'`;
    fail(undefined, new UsageError(`${what} (see switchboard --help)`));
  }
  try {
    const parsed = parseCommand(command.spec, rest);
    if (parsed) await command.run(parsed);
  } catch (error) {
    fail(first, error);
  }
}
