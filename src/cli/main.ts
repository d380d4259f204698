#!/usr/bin/env node
// `switchboard <command>`: one file per command.
import { ConfigError } from '../server/config.js';
import { serve } from './serve.js';
import { token } from './token.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = { serve, token };

const USAGE = `usage: switchboard <command> [options]

commands:
  serve   run a server (see docs/protocol.md, section 8, for flags)
  token   sign an HS256 development token
`;

const [command, ...rest] = process.argv.slice(2);
const run = command ? COMMANDS[command] : undefined;
if (!run) {
  process.stderr.write(USAGE);
  process.exit(command === undefined || command === '--help' ? 0 : 2);
}
run(rest).catch((error: unknown) => {
  const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
  process.stderr.write(`switchboard ${command}: ${message}\n`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
