// The config file of docs/protocol.md section 9: its schema, its defaults and
// how a bad one is reported. Every option and default lives here.
import { z } from 'zod';

const positiveInt = z.number().int().positive();

const historySchema = z.strictObject({ size: positiveInt, ttl: positiveInt });

export const namespaceSchema = z.strictObject({
  subscribe: z.enum(['anyone', 'authenticated', 'token']).default('anyone'),
  publish: z.enum(['anyone', 'authenticated', 'subscribers', 'server']).default('anyone'),
  history: historySchema.nullable().default(null),
  presence: z.boolean().default(false),
  joinLeave: z.boolean().default(false),
});

export type NamespaceConfig = z.output<typeof namespaceSchema>;

export const DEFAULT_NAMESPACES: Record<string, NamespaceConfig> = {
  '': {
    subscribe: 'anyone',
    publish: 'anyone',
    history: { size: 100, ttl: 300_000 },
    presence: false,
    joinLeave: false,
  },
};

export const configSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  path: z.string().startsWith('/').default('/ws'),
  jwtSecret: z.string().min(1).nullable().default(null),
  jwks: z.url().nullable().default(null),
  /** After fetching the JWKS, wait this long before fetching again for an unknown key id. */
  jwksCooldown: z.number().int().min(0).default(30_000),
  apiKey: z.string().min(1).nullable().default(null),
  /** Empty: the server's own origin and localhost origins. `*` allows all. */
  allowedOrigins: z.array(z.string().min(1)).default([]),
  redis: z.string().min(1).nullable().default(null),
  nats: z.string().min(1).nullable().default(null),
  heartbeat: z
    .strictObject({
      interval: positiveInt.default(25_000),
      timeout: positiveInt.default(10_000),
    })
    .prefault({}),
  limits: z
    .strictObject({
      maxPayload: positiveInt.default(1_048_576),
      messagesPerSecond: positiveInt.default(100),
      burst: positiveInt.default(200),
      connectionsPerIp: positiveInt.default(1_000),
      maxConnections: positiveInt.default(100_000),
      outboundBufferBytes: positiveInt.default(4_194_304),
      /** An upgrade request whose headers take longer than this is dropped (slowloris). */
      handshakeTimeout: positiveInt.default(10_000),
    })
    .prefault({}),
  namespaces: z.record(z.string().regex(/^[A-Za-z0-9_\-.@#/]*$/), namespaceSchema).default(DEFAULT_NAMESPACES),
  /** permessage-deflate. Off by default; when on, maxPayload bounds the inflated size. */
  compression: z.boolean().default(false),
  /** TLS files (flags --tls-cert and --tls-key). */
  tlsCert: z.string().min(1).nullable().default(null),
  tlsKey: z.string().min(1).nullable().default(null),
});

/** The config as a user writes it: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
/** The config with every default filled in. */
export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validate a config object; the error names the offending key, e.g. `limits.maxPayload`. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${[...path, key].join('.')}: unknown key`).join('; ');
    }
    return `${path.join('.') || '(root)'}: ${issue.message}`;
  });
  throw new ConfigError(`invalid config: ${problems.join('; ')}`);
}
