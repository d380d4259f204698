// The config file (docs/configuration.md; the contract's "Config file"): its schema, its defaults and
// how a bad one is reported. Every option and default lives here.
import { ConfigError } from './config-error.js';
import { describeIssue } from './issues.js';
import { z } from 'zod';
import { isAddressOrCidr } from './client-address.js';
import { WEBHOOK_EVENTS } from './webhooks/events.js';
import { proxyProblems, proxySchema } from './proxy/config.js';

const positiveInt = z.number().int().positive();

const historySchema = z.strictObject({
  size: positiveInt,
  ttl: positiveInt,
  /** Bytes of stored publications per channel; default `limits.historyBytesPerChannel`. */
  bytes: positiveInt.optional(),
});

export const namespaceSchema = z.strictObject({
  /** 'proxy': the backend's subscribe call decides (proxy.subscribe). */
  subscribe: z.enum(['anyone', 'authenticated', 'token', 'proxy']).default('anyone'),
  /** 'proxy': the backend's publish call decides, and may replace the payload (proxy.publish). */
  publish: z.enum(['anyone', 'authenticated', 'subscribers', 'server', 'proxy']).default('anyone'),
  history: historySchema.nullable().default(null),
  /** true: presence answers the list of clients; 'count': only the numbers of clients and users (no list to send). */
  presence: z.union([z.boolean(), z.literal('count')]).default(false),
  /** true: a join and a leave per connection; 'user': per user (first connection in, last connection out). */
  joinLeave: z.union([z.boolean(), z.literal('user')]).default(false),
  /**
   * A client whose queue passes limits.latestThresholdBytes: 'close' waits for
   * outboundBufferBytes and closes it (4008); 'latest' keeps only the newest
   * publication of each of its channels here until it catches up.
   */
  slowConsumer: z.enum(['close', 'latest']).default('close'),
  /** 'fossil': a subscribe may ask for Fossil deltas of each publication from the previous one (docs/protocol.md, "Delta compression"). */
  delta: z.literal('fossil').optional(),
});

export type NamespaceConfig = z.output<typeof namespaceSchema>;

export const DEFAULT_NAMESPACES: Record<string, NamespaceConfig> = {
  '': {
    subscribe: 'anyone',
    publish: 'anyone',
    history: { size: 100, ttl: 300_000 },
    presence: false,
    joinLeave: false,
    slowConsumer: 'close',
  },
  // The demo page's chat (web/index.html): who is here, and a join and a leave per tab; only those in the room may write.
  demo: {
    subscribe: 'anyone',
    publish: 'subscribers',
    history: { size: 100, ttl: 3_600_000 },
    presence: true,
    joinLeave: true,
    slowConsumer: 'close',
  },
};

const redisAddress = z.strictObject({ host: z.string().min(1), port: z.number().int().min(1).max(65535) });
/** Replicas that must have a publication before it is acknowledged (WAIT); docs/scaling.md "Redis Sentinel". */
const waitForReplicas = z.number().int().min(0).optional();
const password = z.string().min(1).optional();

/** A Redis URL, a Sentinel set or a Cluster's seed nodes (docs/scaling.md). */
const redisSchema = z.union([
  z.string().min(1),
  z.strictObject({ url: z.string().min(1), waitForReplicas }),
  z.strictObject({
    sentinels: z.array(redisAddress).min(1),
    /** The master's name in the sentinels' `sentinel monitor`. */
    name: z.string().min(1),
    password,
    sentinelPassword: password,
    db: z.number().int().min(0).optional(),
    waitForReplicas,
  }),
  z.strictObject({ cluster: z.array(redisAddress).min(1), password }),
]);

/** An endpoint that hears the events it names (docs/protocol.md section 11), signed with its Standard Webhooks secret. */
const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  secret: z.string().regex(/^whsec_[A-Za-z0-9+/]+={0,2}$/, 'a Standard Webhooks secret: whsec_ and base64'),
  events: z.array(z.enum(WEBHOOK_EVENTS)).min(1),
});

export const configSchema = z.strictObject({
  port: z.number().int().min(0).max(65535).default(8080),
  host: z.string().min(1).default('127.0.0.1'),
  path: z.string().startsWith('/').default('/ws'),
  /** Where handleRequest (and a server Switchboard owns) serves its HTTP routes: `/realtime` puts them at /realtime/healthz... */
  httpPrefix: z
    .string()
    .regex(/^(\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)*$/, 'a path like /realtime: starts with /, no trailing /, no ? or #')
    .default(''),
  /** Addresses or CIDRs of reverse proxies whose forwarding header names the client. */
  trustProxy: z.array(z.string().refine(isAddressOrCidr, 'an IP address or CIDR block, e.g. 10.0.0.0/8')).default([]),
  /** The header the trusted proxies write; the other one is ignored (a client could send it through them). */
  forwardedHeader: z.enum(['x-forwarded-for', 'forwarded']).default('x-forwarded-for'),
  jwtSecret: z.string().min(1).nullable().default(null),
  jwks: z.url().nullable().default(null),
  /** Tokens must name this audience (`aud`), or one of these; null: not checked. */
  jwtAudience: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .nullable()
    .default(null),
  /** Tokens must be issued by this issuer (`iss`), or one of these; null: not checked. */
  jwtIssuer: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .nullable()
    .default(null),
  /** How long (ms) a revocation is held when the call gives no `expiresAt`: at least the longest token lifetime you issue. */
  revocationTtl: positiveInt.default(86_400_000),
  /** After fetching the JWKS, wait this long before fetching again for an unknown key id. */
  jwksCooldown: z.number().int().min(0).default(30_000),
  apiKey: z.string().min(1).nullable().default(null),
  /** Empty: the server's own origin and localhost origins. `*` allows all. */
  allowedOrigins: z.array(z.string().min(1)).default([]),
  redis: redisSchema.nullable().default(null),
  /** The contract's key for a NATS broker, which is not built: only null is accepted, with a message saying so. */
  nats: z.null({ error: 'the NATS broker is not built yet; use redis or the in-memory broker' }).default(null),
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
      /**
       * Bytes a connection may send per second (token bucket of bytesBurst):
       * parsing is CPU, and 100 frames of 1 MiB a second would take a core.
       */
      bytesPerSecond: positiveInt.default(1_048_576),
      /** The byte bucket; raised to maxPayload when set below it (withDefaults). */
      bytesBurst: positiveInt.default(4_194_304),
      connectionsPerIp: positiveInt.default(1_000),
      maxConnections: positiveInt.default(100_000),
      outboundBufferBytes: positiveInt.default(4_194_304),
      /** Bytes queued for all connections of this node together; past it, the connections holding the most are closed with 4008 (checked every second). */
      outboundBytes: positiveInt.default(1_073_741_824),
      /** An upgrade request whose headers take longer than this is dropped (slowloris). */
      handshakeTimeout: positiveInt.default(10_000),
      /** TCP connections from one address that have not (yet) upgraded; past it, new ones are dropped. */
      pendingConnectionsPerIp: positiveInt.default(1_000),
      /** Stored publication bytes per channel, oldest evicted first (a namespace's history.bytes overrides it). */
      historyBytesPerChannel: positiveInt.default(2_097_152),
      /** Stored publication bytes on this node, all channels together (memory broker), oldest evicted first. */
      historyBytes: positiveInt.default(268_435_456),
      /** Channels with state (history, position) on this node (memory broker); least recently used idle ones go first. */
      maxChannels: positiveInt.default(100_000),
      /** Subscriptions one connection may hold. */
      subscriptionsPerConnection: positiveInt.default(1_000),
      /** Requests of one connection being answered at once; more are refused with rate_limited. */
      requestsInFlight: positiveInt.default(64),
      /** Largest reply (history page, presence list), at most outboundBufferBytes; a cut reply says `truncated`. */
      maxReplyBytes: positiveInt.default(2_097_152),
      /** In 'latest' namespaces, a client with more than this queued gets only the newest publication per channel (at most half of outboundBufferBytes). */
      latestThresholdBytes: positiveInt.default(1_048_576),
      /** Channels one SSE stream may name (`GET /sse?channel=...`); more is a 400. */
      sseChannels: positiveInt.default(32),
      /** Bytes (as MessagePack) of the info a presence_update may set; larger is payload_too_large. */
      presenceInfoBytes: positiveInt.default(4_096),
      /** Idempotency keys remembered per channel (memory broker); the oldest is forgotten first. */
      idempotencyKeysPerChannel: positiveInt.default(100_000),
      /** Bytes of idempotency keys remembered on this node (memory broker), all channels together. */
      idempotencyBytes: positiveInt.default(67_108_864),
      /** Webhook events waiting per endpoint, cluster-wide; past it the oldest is dropped (and counted). */
      webhookQueue: positiveInt.default(10_000),
      /** Connections one user may hold across the cluster; past it a new one is closed with 4029. 0: unlimited. */
      connectionsPerUser: z.number().int().min(0).default(0),
      /** Token revocations held cluster-wide (POST /api/revoke); past it a new one is refused with 429. */
      revocations: positiveInt.default(100_000),
    })
    .prefault({}),
  /**
   * Processes that serve the port together (`serve` only; docs/scaling.md,
   * "Workers"): 1 serves from this process, `auto` runs one per core. Each
   * worker is a node; with the in-memory broker they share one in the primary.
   */
  workers: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
  /** Listen backlog: connections the kernel queues before the server accepts them (reconnect storms). */
  backlog: positiveInt.default(4_096),
  /** A broker command not answered within this is `unavailable`; a broker silent this long turns /readyz 503. */
  brokerTimeout: positiveInt.default(2_000),
  /** A hook (authenticate, connect, subscribe, publish, disconnect) that has not settled within this has failed. */
  hookTimeout: positiveInt.default(10_000),
  /**
   * A node whose broker lease is not renewed for this long is dead: it leaves
   * /api/nodes, and a surviving node removes its presence entries and sends
   * their `leave` events within this time (docs/scaling.md, "Nodes and ghosts").
   */
  nodeTtl: z.number().int().min(1_000).default(15_000),
  /**
   * How long a publish's idempotency key is remembered (ms): a repeat within it
   * is answered with the first offset and not stored again. It bounds how long
   * the SDK keeps resending a publish whose reply it never got.
   */
  idempotencyWindow: positiveInt.default(300_000),
  webhooks: z
    .array(webhookSchema)
    .refine((list) => new Set(list.map((w) => w.url)).size === list.length, 'each webhook url at most once (its url names its queue)')
    .default([]),
  /** A user's last connection gone this long (ms) before `user.offline` is sent; a reconnect within it sends nothing. */
  webhookOfflineDelay: z.number().int().min(0).default(5_000),
  /** A webhook call answered non-2xx or not at all is retried with backoff for this long (ms) after the event, then dropped. */
  webhookRetryFor: positiveInt.default(3_600_000),
  /** A webhook call not answered within this (ms) has failed, and is retried. */
  webhookTimeout: positiveInt.default(10_000),
  /** An RPC handler that has not answered within this is answered `timeout`. */
  rpcTimeout: positiveInt.default(30_000),
  /**
   * On shutdown, the node's connections are closed in batches spread over
   * this many ms (1012 with a retry hint), so the nodes that take them over
   * are not hit at once; 0 closes them all at once. At least 1,000 are closed
   * per second, so a small node drains at once (docs/operations.md, "Deploys").
   */
  drainWindow: z.number().int().min(0).default(10_000),
  /** After the drain window, how long sessions get to finish their requests and close before they are cut off. */
  drainTimeout: positiveInt.default(5_000),
  /**
   * A node over its handshake budget turns new WebSockets away at once with
   * 1013 and a retry hint, before any auth or subscribe work (docs/operations.md, "Deploys").
   */
  admission: z
    .strictObject({
      /** Upgrades waiting for a token check or an authenticate hook; a new one past this is turned away. */
      maxHandshakes: positiveInt.default(1_000),
      /** Event-loop lag (ms) past which a new upgrade is turned away. */
      maxLagMs: positiveInt.default(100),
      /** The retry hint given with 1013 is spread from half to one and a half of this, ms. */
      retryIn: positiveInt.default(2_000),
    })
    .prefault({}),
  namespaces: z
    .record(z.string().regex(/^[A-Za-z0-9_\-.@/]*$/, 'a namespace name is made of A-Z a-z 0-9 _ - . @ / (no : or #)'), namespaceSchema)
    .default(DEFAULT_NAMESPACES),
  /** permessage-deflate. Off by default; when on, maxPayload bounds the inflated size. */
  compression: z.boolean().default(false),
  /** TLS files (flags --tls-cert and --tls-key). */
  tlsCert: z.string().min(1).nullable().default(null),
  tlsKey: z.string().min(1).nullable().default(null),
  /** The application's backend, asked over HTTP (docs/backend.md; proxy/config.ts). */
  proxy: proxySchema.nullable().default(null),
});

/** The config as a user writes it: every key optional. */
export type ConfigInput = z.input<typeof configSchema>;
/** The config with every default filled in. */
export type Config = z.output<typeof configSchema>;

export { ConfigError };

/** Validate a config object; the error names the offending key, e.g. `limits.maxPayload`. */
export function parseConfig(input: unknown): Config {
  const result = configSchema.safeParse(input ?? {});
  const crossed = result.success ? proxyProblems(result.data) : [];
  if (crossed.length > 0) throw new ConfigError(`invalid config: ${crossed.join('; ')}`);
  if (result.success) return withDefaults(result.data);
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${[...path, key].join('.')}: unknown key`).join('; ');
    }
    return describeIssue(issue, '(root)');
  });
  throw new ConfigError(`invalid config: ${problems.join('; ')}`);
}

/** Defaults and bounds that depend on other keys: reply, latest and byte-burst sizes, each namespace's history bytes. */
function withDefaults(config: Config): Config {
  // A reply larger than the outbound buffer would close its own session with 4008.
  const limits = {
    ...config.limits,
    maxReplyBytes: Math.min(config.limits.maxReplyBytes, config.limits.outboundBufferBytes),
    // Past the threshold a client still gets one held publication per channel: leave room for them before 4008.
    latestThresholdBytes: Math.min(config.limits.latestThresholdBytes, Math.floor(config.limits.outboundBufferBytes / 2)),
    // A byte bucket smaller than the largest frame would refuse a frame the server allows (and close with 4029 one
    // over twice the bucket, on its first frame): bytesBurst is never less than maxPayload (docs/security.md).
    bytesBurst: Math.max(config.limits.bytesBurst, config.limits.maxPayload),
  };
  const namespaces: Record<string, NamespaceConfig> = {};
  for (const [name, namespace] of Object.entries(config.namespaces)) {
    const { history } = namespace;
    namespaces[name] = history ? { ...namespace, history: { ...history, bytes: history.bytes ?? limits.historyBytesPerChannel } } : namespace;
  }
  return { ...config, limits, namespaces };
}
