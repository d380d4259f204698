// The `serve` command line (docs/protocol.md, "Where the contract was silent"):
// every flag, the SWITCHBOARD_<FLAG> variable it falls back to, and the config
// key it sets. Also reads config files for `serve` and `check-config`.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../server/config-error.js';
import type { ConfigInput } from '../server/config.js';
import type { Flag, Parsed } from './args.js';

type Kind = 'string' | 'port' | 'list' | 'workers';

/** flag -> [config key, kind, help] */
const SERVE_FLAGS: Record<string, [keyof ConfigInput, Kind, string, string]> = {
  port: ['port', 'port', 'PORT', 'port to listen on; 0 picks a free one (config default 8080)'],
  host: ['host', 'string', 'HOST', 'address to listen on (config default 127.0.0.1)'],
  workers: ['workers', 'workers', 'N|auto', 'processes serving the port together; auto: one per core (config default 1)'],
  redis: ['redis', 'string', 'URL', 'run with the Redis broker, for many nodes'],
  nats: ['nats', 'string', 'URL', 'reserved for a NATS broker (not built yet)'],
  'jwt-secret': ['jwtSecret', 'string', 'SECRET', 'verify HS256 tokens with this secret'],
  jwks: ['jwks', 'string', 'URL', 'verify RS256/ES256 tokens with the keys at this URL'],
  'api-key': ['apiKey', 'string', 'KEY', 'turn the HTTP API on with this key'],
  'allowed-origins': ['allowedOrigins', 'list', 'A,B', 'origins allowed to connect (* for all)'],
  'tls-cert': ['tlsCert', 'string', 'FILE', 'serve wss:// and https:// with this certificate'],
  'tls-key': ['tlsKey', 'string', 'FILE', 'and this private key'],
};

export const serveFlags: Record<string, Flag> = {
  config: { type: 'string', value: 'FILE', env: true, help: 'JSON config file (docs/configuration.md)' },
  ...Object.fromEntries(Object.entries(SERVE_FLAGS).map(([flag, [, , value, help]]) => [flag, { type: 'string', value, env: true, help } satisfies Flag])),
};

/** Config from the file named by --config, overridden by environment variables, overridden by flags (already merged in values). */
export function serveConfig(values: Parsed['values']): ConfigInput {
  const file = values.config as string | undefined;
  const config: Record<string, unknown> = file ? readConfigFile(file) : {};
  for (const [flag, [key, kind]] of Object.entries(SERVE_FLAGS)) {
    const raw = values[flag] as string | undefined;
    if (raw !== undefined) config[key] = convert(flag, raw, kind);
  }
  return config as ConfigInput;
}

export function readConfigFile(file: string): Record<string, unknown> {
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
    case 'workers': {
      if (raw === 'auto') return raw;
      if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new ConfigError(`--${flag}: expected a number of processes or auto, got "${raw}"`);
      return Number(raw);
    }
    case 'list':
      return raw
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
    case 'string':
      return raw;
  }
}
