// The `serve` command line (docs/protocol.md, section 8): every flag, the
// SWITCHBOARD_<FLAG> variable it falls back to, and the config key it sets.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, type ConfigInput } from '../server/config.js';

type Kind = 'string' | 'port' | 'list';

/** flag -> [config key, kind] */
const FLAGS: Record<string, [keyof ConfigInput, Kind]> = {
  port: ['port', 'port'],
  host: ['host', 'string'],
  redis: ['redis', 'string'],
  nats: ['nats', 'string'],
  'jwt-secret': ['jwtSecret', 'string'],
  jwks: ['jwks', 'string'],
  'api-key': ['apiKey', 'string'],
  'allowed-origins': ['allowedOrigins', 'list'],
  'tls-cert': ['tlsCert', 'string'],
  'tls-key': ['tlsKey', 'string'],
};

export function envName(flag: string): string {
  return `SWITCHBOARD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Config from the file named by --config, overridden by environment variables, overridden by flags. */
export function serveConfig(argv: string[], env: NodeJS.ProcessEnv): ConfigInput {
  const options = Object.fromEntries(
    ['config', ...Object.keys(FLAGS)].map((flag) => [flag, { type: 'string' as const }]),
  );
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const file = (values.config as string | undefined) ?? env[envName('config')];
  const config: Record<string, unknown> = file ? readConfigFile(file) : {};
  for (const [flag, [key, kind]] of Object.entries(FLAGS)) {
    const raw = (values[flag] as string | undefined) ?? env[envName(flag)];
    if (raw !== undefined) config[key] = convert(flag, raw, kind);
  }
  return config as ConfigInput;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function convert(flag: string, raw: string, kind: Kind): unknown {
  switch (kind) {
    case 'port': {
      const port = Number(raw);
      if (!/^\d+$/.test(raw) || port > 65535) throw new ConfigError(`--${flag}: expected a port number, got "${raw}"`);
      return port;
    }
    case 'list':
      return raw.split(',').map((item) => item.trim()).filter(Boolean);
    case 'string':
      return raw;
  }
}
