// `switchboard check-config FILE`: validate a config file as `serve` would and
// print the effective config, every default filled in, secrets masked.
import { parseConfig } from '../server/config.js';
import type { Command } from './args.js';
import { readConfigFile } from './options.js';
import { safeLinesFor } from './terminal-safe.js';

const SECRETS = ['jwtSecret', 'apiKey'] as const;

export const checkConfig: Command = {
  spec: {
    name: 'check-config',
    summary: 'Validate a config file and print the effective config with every default filled in.',
    args: 'FILE',
    positionals: [1, 1],
    flags: { 'show-secrets': { type: 'boolean', help: 'print jwtSecret, apiKey and proxy.secret instead of masking them' } },
    notes: 'Exit 0 when valid; 2 with one line naming each bad key otherwise. SWITCHBOARD_* variables and serve flags are not applied.',
    examples: ['switchboard check-config switchboard.json', 'switchboard check-config switchboard.json | jq .limits'],
  },
  async run({ values, positionals }) {
    const config: Record<string, unknown> = { ...parseConfig(readConfigFile(positionals[0]!)) };
    if (!values['show-secrets']) {
      for (const key of SECRETS) if (typeof config[key] === 'string') config[key] = masked(config[key] as string);
      const proxy = config.proxy as { secret: string | null } | null;
      if (proxy?.secret) config.proxy = { ...proxy, secret: masked(proxy.secret) };
    }
    process.stdout.write(`${safeLinesFor(process.stdout, JSON.stringify(config, null, 2))}\n`);
  },
};

function masked(secret: string): string {
  return `(set, ${secret.length} characters)`;
}
