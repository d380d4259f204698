// Where the Redis broker's two connections go: one Redis (a URL), a master
// found through Sentinel, or a Redis Cluster. The broker itself only asks
// for connections and for the pub/sub verbs that fit them (docs/scaling.md,
// "Redis Sentinel" and "Redis Cluster"). ioredis is loaded by the first
// connection asked for, so a server on the in-memory broker never reads it.
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';

type IoRedis = { Redis: typeof Redis; Cluster: typeof Cluster };
let ioredis: Promise<IoRedis> | null = null;
const loadIoredis = (): Promise<IoRedis> => (ioredis ??= import('ioredis'));

export interface RedisAddress {
  host: string;
  port: number;
}

/** Options every shape shares. */
interface Common {
  /**
   * A publication with history is acknowledged only once this many replicas
   * have it (`WAIT`), so that a failover to a replica cannot lose it. Default:
   * 1 with Sentinel, 0 otherwise. Not available on Cluster (see docs/scaling.md).
   */
  waitForReplicas?: number;
}

export type RedisTarget =
  /** redis://host:port/db */
  | string
  | ({ url: string } & Common)
  | ({ sentinels: RedisAddress[]; name: string; password?: string; sentinelPassword?: string; db?: number } & Common)
  | { cluster: RedisAddress[]; password?: string };

export type RedisClient = Redis | Cluster;

/** The pub/sub commands and event of a target: sharded ones on Cluster, so a publication reaches only its channel's shard. */
export interface PubSubVerbs {
  publish: 'publish' | 'spublish';
  subscribe: 'subscribe' | 'ssubscribe';
  unsubscribe: 'unsubscribe' | 'sunsubscribe';
  message: 'messageBuffer' | 'smessageBuffer';
}

const PLAIN: PubSubVerbs = { publish: 'publish', subscribe: 'subscribe', unsubscribe: 'unsubscribe', message: 'messageBuffer' };
const SHARDED: PubSubVerbs = { publish: 'spublish', subscribe: 'ssubscribe', unsubscribe: 'sunsubscribe', message: 'smessageBuffer' };

export interface RedisConnector {
  /** For messages: the URL, `sentinel NAME at HOST:PORT,...` or `cluster HOST:PORT,...`. */
  readonly description: string;
  readonly sharded: boolean;
  readonly verbs: PubSubVerbs;
  readonly waitForReplicas: number;
  /** A new connection (not yet connected) with these ioredis options, for commands or for pub/sub. */
  readonly connect: (options: RedisOptions, purpose: 'commands' | 'subscriber') => Promise<RedisClient>;
}

const list = (addresses: RedisAddress[]) => addresses.map(({ host, port }) => `${host}:${port}`).join(',');

// A master demoted to a replica refuses writes with READONLY: reconnecting
// asks Sentinel (or the cluster's slot map) where the master is now.
const reconnectOnError = (error: Error) => error.message.startsWith('READONLY');

export function redisConnector(target: RedisTarget): RedisConnector {
  if (typeof target === 'string') target = { url: target };
  if ('url' in target) {
    const { url } = target;
    return {
      description: url,
      sharded: false,
      verbs: PLAIN,
      waitForReplicas: target.waitForReplicas ?? 0,
      connect: async (options) => new (await loadIoredis()).Redis(url, options),
    };
  }
  if ('sentinels' in target) {
    const { sentinels, name, password, sentinelPassword, db } = target;
    return {
      description: `sentinel ${name} at ${list(sentinels)}`,
      sharded: false,
      verbs: PLAIN,
      waitForReplicas: target.waitForReplicas ?? 1,
      connect: async (options) =>
        new (await loadIoredis()).Redis({
          ...options,
          sentinels,
          name,
          password,
          sentinelPassword,
          db,
          role: 'master',
          // Sentinel's +switch-master tells at once instead of after a failed reconnect.
          failoverDetector: true,
          // Asking a sentinel is bounded like any command.
          sentinelCommandTimeout: options.commandTimeout,
          reconnectOnError,
        }),
    };
  }
  const { cluster, password } = target;
  return {
    description: `cluster ${list(cluster)}`,
    sharded: true,
    verbs: SHARDED,
    waitForReplicas: 0,
    connect: async (options, purpose) => {
      const io = await loadIoredis();
      const { connectionName, ...redisOptions } = options;
      const clusterOptions: ClusterOptions = {
        redisOptions: { ...redisOptions, password, connectionName, reconnectOnError },
        enableOfflineQueue: options.enableOfflineQueue,
        lazyConnect: options.lazyConnect,
        maxRedirections: 16,
        // One subscriber connection per master, each holding the SSUBSCRIBEs of its slots.
        shardedSubscribers: purpose === 'subscriber',
        // ioredis's wait before retrying a command on a cluster still settling (TRYAGAIN, CLUSTERDOWN).
        retryDelayOnTryAgain: 50,
        retryDelayOnClusterDown: 50,
      };
      return new io.Cluster(cluster, clusterOptions);
    },
  };
}

/** The Lua publish script for a sharded target: SPUBLISH keeps fan-out on the channel's shard (Redis >= 7.0). */
export function shardedScript(lua: string): string {
  return lua.replaceAll("redis.call('PUBLISH',", "redis.call('SPUBLISH',");
}
