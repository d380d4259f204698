#!/usr/bin/env node
// `switchboard <command>`: one file per command.
import { ConfigError } from '../server/config.js';
import { connect } from './connect.js';
import { publish } from './publish.js';
import { serve } from './serve.js';
import { token } from './token.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = { serve, connect, publish, token };

const USAGE = `usage: switchboard <command> [options]

commands:
  serve     run a server (flags in the README)
  connect   raw protocol console: prints frames, sends stdin lines
  publish   publish through the HTTP API
  token     sign an HS256 development token
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
