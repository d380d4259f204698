// Many nodes through Redis. Per channel: a hash with the epoch and newest
// offset, a stream with the newest `size` publications, and a pub/sub topic.
// Publishing is one Lua script that takes the next offset, stores and
// PUBLISHes (SPUBLISH on Redis Cluster), so every node sees one order and one set of offsets. Payloads
// are stored and carried as MessagePack, so binary values survive.
import { randomUUID } from 'node:crypto';
import { decode, encode } from '@msgpack/msgpack';
import type { Redis } from 'ioredis';
import { SwitchboardError } from '../protocol/codes.js';
import type { PresenceEntry } from '../protocol/frames.js';
import type {
  Broker,
  ChannelEvent,
  ChannelEventHandler,
  HistoryPage,
  HistoryPolicy,
  HistoryQuery,
  NodeLease,
  NodeRecord,
  PresenceEventKind,
  Publication,
  PublishOptions,
} from './broker.js';
import { defineNodeScripts, RedisNodes, type NodeConnection } from './redis-nodes.js';
import { defineLedgerScripts, RedisLedger, type LedgerConnection } from './redis-ledger.js';
import { ReplicaWait } from './replica-wait.js';
import { redisConnector, shardedScript, type RedisClient, type RedisConnector, type RedisTarget } from './redis-connection.js';
export type { RedisAddress, RedisTarget } from './redis-connection.js';
import { emptyPage, encodePublication, firstUnexpired, historyPage, newEpoch, type StoredPublication } from './history.js';

export interface RedisBrokerOptions {
  /** redis://host:port/db; default redis://127.0.0.1:6379 */
  url?: string;
  /** Instead of `url`: a URL, a Sentinel set or a Cluster (docs/scaling.md). */
  target?: RedisTarget;
  /** Prefix of every key and topic, to share a Redis between deployments. Default "switchboard". */
  prefix?: string;
  /** How long a channel's epoch and offset outlive its last use. Default one hour. */
  positionTtl?: number;
  /**
   * A presence entry not refreshed by its node for this long is dropped: the
   * last resort when no node survives to clean up after a dead one (the node
   * lease does it sooner, see registerNode). Default 60 s.
   */
  presenceTtl?: number;
  /** Clock, for tests of ttl eviction. */
  now?: () => number;
  /**
   * A command not answered within this many ms fails with `unavailable`, and a
   * connection whose PING goes unanswered this long makes the broker unhealthy.
   * Default 2000 (the server's `brokerTimeout`).
   */
  timeout?: number;
}

/** ms before a connection that ioredis gave up is connected again. */
const REVIVE_DELAY = 100;

/** ioredis's message for a command its `commandTimeout` gave up on. */
const TIMED_OUT = 'Command timed out';

// KEYS: meta, stream, topic, idempotency key. ARGV: new epoch, size,
// publication, now, stream ttl, position ttl, max bytes, idempotency window
// ('0': no key). A key seen within its window answers the first offset and
// stores nothing: checked and set in the same script as the offset, so two
// nodes retrying the same publish cannot both store it. The stream's bytes are
// counted in the meta hash (reset when the stream expired), and the oldest
// entries are evicted past the size or the bytes; the newest always stays.
// Returns {offset, evicted by bytes, 1 when a repeat}.
const PUBLISH = `
if ARGV[8] ~= '0' then
  local first = redis.call('GET', KEYS[4])
  if first then return {tonumber(first), 0, 1} end
end
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then redis.call('HSET', KEYS[1], 'offset', 0) end
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('HSET', KEYS[1], 'bytes', 0) end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], offset .. '-0', 'd', ARGV[3], 'at', ARGV[4])
local bytes = redis.call('HINCRBY', KEYS[1], 'bytes', #ARGV[3])
local size, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[7])
local length = redis.call('XLEN', KEYS[2])
local byBytes = 0
while length > 1 and (length > size or bytes > maxBytes) do
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)[1]
  bytes = redis.call('HINCRBY', KEYS[1], 'bytes', -#oldest[2][2])
  redis.call('XDEL', KEYS[2], oldest[1])
  if length <= size then byBytes = byBytes + 1 end
  length = length - 1
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', KEYS[3], 'p' .. offset .. ':' .. ARGV[3])
if ARGV[8] ~= '0' then redis.call('SET', KEYS[4], offset, 'PX', ARGV[8]) end
return {offset, byBytes, 0}`;

// KEYS: idempotency key, topic. ARGV: message, window. A publish without
// history is delivered only if its key is new within the window.
const PUBLISH_ONCE = `
if not redis.call('SET', KEYS[1], 'n', 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1`;

// KEYS: meta, stream. ARGV: new epoch, position ttl, create ('1' or '0').
// Without create, a channel with no position answers nothing and stays without one.
// KEYS: meta hash, stream. ARGV: new epoch, position ttl, '0' for a read-only
// read, the epoch of `since` ('' without), its offset, how many at most ('' for
// all). Returns {epoch, offset, entries}: with `since` in the current epoch only
// the entries after it (the first one returned tells whether it can be
// recovered), otherwise the oldest; without `since` the newest. A resubscribe
// after a reconnect reads what it missed, not the whole stream.
const READ = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  if ARGV[3] == '0' then return {} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'offset', 0)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local count = {}
if ARGV[6] ~= '' then
  if tonumber(ARGV[6]) == 0 then return {epoch, redis.call('HGET', KEYS[1], 'offset'), {}} end
  count = {'COUNT', ARGV[6]}
end
local entries
if ARGV[4] == '' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', unpack(count))
elseif ARGV[4] == epoch then
  entries = redis.call('XRANGE', KEYS[2], tostring(tonumber(ARGV[5]) + 1), '+', unpack(count))
else
  entries = redis.call('XRANGE', KEYS[2], '-', '+', unpack(count))
end
return {epoch, redis.call('HGET', KEYS[1], 'offset'), entries, ARGV[4] == '' and 1 or 0}`;

// KEYS: entries hash, expiry zset. ARGV: now. Drops expired entries, returns the rest.
/** The one-letter tag a presence event travels under on the channel's pub/sub topic ('p' is a publication). */
const PRESENCE_TAGS: Record<PresenceEventKind, string> = { join: 'j', leave: 'l', update: 'u' };
const PRESENCE_KINDS = new Map(Object.entries(PRESENCE_TAGS).map(([kind, tag]) => [tag, kind as PresenceEventKind]));

const PRESENCE = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, client in ipairs(dead) do redis.call('HDEL', KEYS[1], client) redis.call('ZREM', KEYS[2], client) end
return redis.call('HVALS', KEYS[1])`;

// KEYS: the user's connections (zset). ARGV: client, expires at, now, key ttl,
// '1' to add or '0' to remove. Returns how many of the user's connections are
// present afterwards, counted in the same step so that of two connections of
// one user arriving (or leaving) at once on two nodes, exactly one is first (last).
const USER_PRESENCE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZCARD', KEYS[1])`;

// KEYS: entries hash, expiry zset. ARGV: now. Drops expired entries and
// answers {clients, distinct users}, so a big channel's list never leaves Redis.
const PRESENCE_COUNT = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, client in ipairs(dead) do redis.call('HDEL', KEYS[1], client) redis.call('ZREM', KEYS[2], client) end
local users, distinct = {}, 0
for _, value in ipairs(redis.call('HVALS', KEYS[1])) do
  local user = cmsgpack.unpack(value).user
  if type(user) == 'string' and not users[user] then users[user] = true distinct = distinct + 1 end
end
return {redis.call('HLEN', KEYS[1]), distinct}`;

type Raw = Buffer | number | null | Raw[];

interface Scripts {
  publishScript(meta: string, stream: string, topic: string, once: string, ...args: Array<string | Uint8Array | number>): Promise<[number, number, number]>;
  publishOnceScript(once: string, topic: string, message: Buffer, window: number): Promise<number>;
  readScriptBuffer(meta: string, stream: string, ...args: Array<string | number>): Promise<Raw[]>;
  presenceScriptBuffer(entries: string, expiry: string, now: number): Promise<Buffer[]>;
  userPresenceScript(connections: string, client: string, expiresAt: number, now: number, ttl: number, add: '1' | '0'): Promise<number>;
  presenceCountScript(entries: string, expiry: string, now: number): Promise<[number, number]>;
}

type Connection = RedisClient & Scripts & NodeConnection & LedgerConnection;

export class RedisBroker implements Broker {
  readonly name = 'redis';
  readonly durable = true;
  private readonly connector: RedisConnector;
  private readonly prefix: string;
  private readonly positionTtl: number;
  private readonly presenceTtl: number;
  private readonly now: () => number;
  private commands: Connection | null = null;
  /** This node's lease, once registered. */
  private lease: RedisNodes | null = null;
  private subscriber: RedisClient | null = null;
  private handler: ChannelEventHandler | null = null;
  private readonly subscribed = new Map<string, number>();
  /** Presence entries of this node's clients, refreshed until removed. */
  private readonly ownPresence = new Map<string, Map<string, PresenceEntry>>();
  /** Clients whose entry was added in this turn, by channel, and the adds waiting for its write (writeSoon). */
  private readonly unwritten = new Map<string, Array<{ client: string; resolve: (present: boolean) => void; reject: (error: unknown) => void }>>();
  private refresher: NodeJS.Timeout | null = null;
  private prober: NodeJS.Timeout | null = null;
  private probes: Probe[] = [];
  private readonly timeout: number;
  /** Commands given up on after `timeout`, for /metrics. */
  private timeouts = 0;
  /** Which subscribe() call added each subscribed channel, so that a late failure removes only its own. */
  private nextSubscribe = 0;
  private interrupted = false;
  /** Closed: a connection that ends stays ended. */
  private stopped = false;
  private readonly hits = new Map<string, number>();
  private replicaWait: ReplicaWait | null = null;
  /** Indexes this node's tally members until it has a lease (then the lease's id does). */
  private readonly instanceId = randomUUID();
  readonly ledger: RedisLedger;

  constructor(options: RedisBrokerOptions = {}) {
    this.connector = redisConnector(options.target ?? options.url ?? 'redis://127.0.0.1:6379');
    this.prefix = options.prefix ?? 'switchboard';
    this.positionTtl = options.positionTtl ?? 3_600_000;
    this.presenceTtl = options.presenceTtl ?? 60_000;
    this.now = options.now ?? Date.now;
    this.timeout = options.timeout ?? 2_000;
    this.ledger = new RedisLedger(
      (command) => this.run(null, command),
      this.prefix,
      () => this.lease?.id ?? this.instanceId,
    );
  }

  async start(handler: ChannelEventHandler): Promise<void> {
    // Fail fast while Redis is away instead of queueing: callers get `unavailable`.
    // A Redis that is there but does not answer (stopped, overloaded, a silent
    // network) fails a command after `timeout` instead of holding it forever.
    // ioredis keeps a timed-out command in its reply queue, so its late answer
    // is matched to it and discarded, never handed to a later command.
    const options = { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true, commandTimeout: this.timeout };
    // Named, so that CLIENT LIST shows whose connections these are. Commands
    // cut off by a dropped connection are not sent again after the reconnect:
    // their callers may have been told `unavailable` already and retried.
    const { connect, sharded, verbs } = this.connector;
    const [commands, subscriber] = (await Promise.all([
      connect(
        {
          ...options,
          autoResendUnfulfilledCommands: false,
          // Commands of one event-loop turn leave in one write: a storm's thousands of
          // resubscribes cost a syscall per turn, not one per history read.
          enableAutoPipelining: true,
          connectionName: `${this.prefix}:commands`,
        },
        'commands',
      ),
      connect({ ...options, connectionName: `${this.prefix}:subscriber` }, 'subscriber'),
    ])) as [Connection, RedisClient];
    this.handler = handler;
    // Defining a script only names it: ioredis sends EVALSHA at its first
    // call, and EVAL (which loads it) once Redis answers NOSCRIPT.
    defineNodeScripts(commands);
    defineLedgerScripts(commands);
    // On a Cluster the scripts publish with SPUBLISH, to the channel's own shard.
    const script = (lua: string) => (sharded ? shardedScript(lua) : lua);
    commands.defineCommand('publishScript', { numberOfKeys: 4, lua: script(PUBLISH) });
    commands.defineCommand('publishOnceScript', { numberOfKeys: 2, lua: script(PUBLISH_ONCE) });
    commands.defineCommand('readScript', { numberOfKeys: 2, lua: READ });
    commands.defineCommand('presenceScript', { numberOfKeys: 2, lua: PRESENCE });
    commands.defineCommand('userPresenceScript', { numberOfKeys: 1, lua: USER_PRESENCE });
    commands.defineCommand('presenceCountScript', { numberOfKeys: 2, lua: PRESENCE_COUNT });
    for (const connection of [commands, subscriber]) connection.on('error', () => {}); // status tells the story
    subscriber.on(verbs.message, (topic: Buffer, message: Buffer) => this.receive(topic.toString(), message));
    // On Cluster a shard's subscriber connection ending is '-node'; the
    // group's 'subscribersReady' follows once it is replaced and resubscribed.
    for (const lost of ['close', '-node']) {
      subscriber.on(lost, () => {
        if (this.subscribed.size > 0) this.interrupted = true;
      });
    }
    // ioredis resubscribes by itself; what was published meanwhile was not
    // delivered. The clients are told once both connections are back: they
    // resubscribe at once and their recovery reads history on `commands`.
    //
    // A stall without a disconnect (Redis stopped or slow, TCP intact) needs
    // no such report: a stopped Redis publishes nothing, and what it sends
    // meanwhile waits in TCP buffers and arrives in order. Redis never drops
    // pub/sub output silently: past its output buffer limit it closes the
    // connection, and 'close' above covers that. A subscribe that timed
    // out is undone (subscribe()), so no channel is left half-subscribed.
    subscriber.on('ready', () => this.announceInterruption());
    subscriber.on('subscribersReady', () => this.announceInterruption());
    commands.on('ready', () => this.announceInterruption());

    // ioredis gives a Sentinel connection up for good ('end', no more
    // retries) when Sentinel's +switch-master arrives while that connection is
    // reconnecting and still asking a sentinel where the master is: its
    // failover detector cancels the attempt under way. Such a connection would
    // never be back, so the node would never tell its clients of the gap and
    // never publish again. Unless the broker is closing, it is connected
    // again; ioredis still holds what it was subscribed to and resubscribes.
    if (!sharded) for (const connection of [commands, subscriber]) connection.on('end', () => this.revive(connection as Redis));
    this.commands = commands;
    this.subscriber = subscriber;
    this.probes = [new Probe(commands, this.timeout), new Probe(subscriber, this.timeout)];
    const replicaWait = (this.replicaWait = new ReplicaWait(commands, this.connector.waitForReplicas, this.timeout));
    commands.on('ready', () => replicaWait.refresh());
    try {
      await Promise.all([commands.connect(), subscriber.connect()]);
    } catch (error) {
      await this.close();
      throw new Error(`cannot reach Redis at ${this.connector.description}: ${(error as Error).message}`, { cause: error });
    }
    this.refresher = setInterval(() => void this.refreshPresence(), Math.max(100, this.presenceTtl / 3));
    this.refresher.unref();
    // Probing four times per timeout notices a silence within about `timeout`.
    this.prober = setInterval(
      () => {
        this.probes.forEach((probe) => probe.send());
        replicaWait.refresh();
      },
      Math.max(10, this.timeout / 4),
    );
    this.prober.unref();
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.lease?.stop();
    this.lease = null;
    if (this.refresher) clearInterval(this.refresher);
    if (this.prober) clearInterval(this.prober);
    this.refresher = this.prober = null;
    this.probes = [];
    this.handler = null;
    const connections = [this.commands, this.subscriber].filter((c): c is RedisClient => c !== null);
    this.commands = this.subscriber = null;
    await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  }

  private hit(limit: string, times = 1): void {
    this.hits.set(limit, (this.hits.get(limit) ?? 0) + times);
  }

  isHealthy(): boolean {
    return this.commands?.status === 'ready' && this.subscriber?.status === 'ready' && this.probes.every((probe) => probe.answering());
  }

  *limitHits(): Iterable<[string, number]> {
    yield ['brokerTimeout', this.timeouts];
    if (this.replicaWait?.misses) yield ['replicaWait', this.replicaWait.misses];
    yield* this.hits.entries();
  }

  async publish(channel: string, publication: Publication, history: HistoryPolicy | null, options: PublishOptions = {}): Promise<number | null> {
    const data = Buffer.from(encodePublication(publication));
    const keyed = options.idempotencyKey !== undefined && options.window !== undefined;
    const once = this.onceKey(channel, options.idempotencyKey ?? '');
    return this.run('the publication may still have been stored and delivered', async (redis) => {
      if (!history) {
        const message = Buffer.concat([Buffer.from('p:'), data]);
        if (keyed) await redis.publishOnceScript(once, this.key('c', channel), message, options.window!);
        else await redis[this.connector.verbs.publish](this.key('c', channel), message);
        return null;
      }
      const positionTtl = Math.max(this.positionTtl, history.ttl);
      const [[offset, evictedByBytes]] = await Promise.all([
        redis.publishScript(
          this.key('m', channel),
          this.key('h', channel),
          this.key('c', channel),
          once,
          newEpoch(),
          history.size,
          data,
          this.now(),
          history.ttl,
          positionTtl,
          history.bytes ?? Number.MAX_SAFE_INTEGER,
          keyed ? options.window! : 0,
        ),
        // Sent right behind the script on the same connection.
        this.replicaWait!.confirmed(),
      ]);
      if (evictedByBytes > 0) this.hit('historyBytesPerChannel', Number(evictedByBytes));
      return Number(offset);
    });
  }

  async emit(channel: string, event: ChannelEvent & { kind: PresenceEventKind }): Promise<void> {
    const data = Buffer.from(encode(event.entry, { ignoreUndefined: true }));
    await this.run('the event may still have been delivered', (redis) =>
      redis[this.connector.verbs.publish](this.key('c', channel), Buffer.concat([Buffer.from(`${PRESENCE_TAGS[event.kind]}:`), data])),
    );
  }

  async subscribe(channel: string): Promise<void> {
    const id = ++this.nextSubscribe;
    this.subscribed.set(channel, id);
    try {
      await this.run(null, () => this.subscriber![this.connector.verbs.subscribe](this.key('c', channel)));
    } catch (error) {
      // An unsubscribe or a newer subscribe since then has the last word.
      if (this.subscribed.get(channel) === id) {
        this.subscribed.delete(channel);
        // A timed-out SUBSCRIBE still runs once Redis answers; undo it, in order behind it.
        if (isTimeout(error)) this.subscriber?.[this.connector.verbs.unsubscribe](this.key('c', channel)).catch(() => {});
      }
      throw error;
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
    await this.run(null, () => this.subscriber![this.connector.verbs.unsubscribe](this.key('c', channel)));
  }

  async history(channel: string, query: HistoryQuery, history: HistoryPolicy): Promise<HistoryPage> {
    const positionTtl = Math.max(this.positionTtl, history.ttl);
    const { since, limit } = query;
    const reply = await this.run(null, (redis) =>
      redis.readScriptBuffer(
        this.key('m', channel),
        this.key('h', channel),
        newEpoch(),
        positionTtl,
        query.readOnly ? '0' : '1',
        since?.epoch ?? '',
        since?.offset ?? 0,
        limit === undefined || !Number.isFinite(limit) ? '' : Math.max(0, Math.floor(limit)),
      ),
    );
    if (reply.length === 0) return emptyPage();
    const [epoch, offset, entries, newestFirst] = reply;
    const stored = (entries as Raw[]).map(toStored);
    if (Number(newestFirst) === 1) stored.reverse();
    const held = stored.slice(firstUnexpired(stored, this.now(), history.ttl));
    return historyPage(String(epoch), Number(String(offset)), held, query);
  }

  async addPresence(channel: string, entry: PresenceEntry): Promise<number> {
    let own = this.ownPresence.get(channel);
    if (!own) this.ownPresence.set(channel, (own = new Map<string, PresenceEntry>()));
    own.set(entry.client, entry);
    // Removed before it was written: nothing was written or counted, and its caller has left.
    if (!(await this.writeSoon(channel, entry.client))) return 0;
    if (entry.user === null) return 1;
    const now = this.now();
    return Number(
      await this.run(null, (redis) =>
        redis.userPresenceScript(this.userKey(channel, entry.user!), entry.client, now + this.presenceTtl, now, this.presenceTtl * 2, '1'),
      ),
    );
  }

  async removePresence(channel: string, client: string, user: string | null = null): Promise<number> {
    const own = this.ownPresence.get(channel);
    const owner = own?.get(client)?.user ?? user;
    own?.delete(client);
    if (own?.size === 0) this.ownPresence.delete(channel);
    await this.run(null, (redis) => redis.multi().hdel(this.key('p', channel), client).zrem(this.key('pe', channel), client).exec());
    // The node's index lives in the nodes' slot, apart from the channel's keys (one Cluster slot per transaction).
    if (this.lease) await this.run(null, (redis) => redis.srem(this.lease!.indexKey(), RedisNodes.member(channel, client)));
    if (owner === null) return 0;
    const now = this.now();
    return Number(await this.run(null, (redis) => redis.userPresenceScript(this.userKey(channel, owner), client, 0, now, this.presenceTtl * 2, '0')));
  }

  /** A dead node's entry, already out of the channel's presence: out of its user's connections too. */
  private async forgetConnection(channel: string, entry: PresenceEntry): Promise<number> {
    if (entry.user === null) return 0;
    const now = this.now();
    return Number(
      await this.run(null, (redis) => redis.userPresenceScript(this.userKey(channel, entry.user!), entry.client, 0, now, this.presenceTtl * 2, '0')),
    );
  }

  async presenceCount(channel: string): Promise<{ clients: number; users: number }> {
    const [clients, users] = await this.run(null, (redis) => redis.presenceCountScript(this.key('p', channel), this.key('pe', channel), this.now()));
    return { clients: Number(clients), users: Number(users) };
  }

  /** The zset of one user's connections present on a channel ("|" cannot occur in a channel name). */
  private userKey(channel: string, user: string): string {
    return `${this.key('pu', channel)}|${user}`;
  }

  async presence(channel: string): Promise<PresenceEntry[]> {
    const values = await this.run(null, (redis) => redis.presenceScriptBuffer(this.key('p', channel), this.key('pe', channel), this.now()));
    return values.map((value) => decode(value) as PresenceEntry);
  }

  /**
   * Write the channel's presence entries added in this turn of the event loop
   * (one transaction per channel and one index write for all, sent together
   * at its end: a reconnect storm's subscribes share them). Resolves true
   * once written, false when the client's entry was removed before.
   */
  private writeSoon(channel: string, client: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      if (this.unwritten.size === 0) setImmediate(() => void this.writeUnwritten());
      let waiting = this.unwritten.get(channel);
      if (!waiting) this.unwritten.set(channel, (waiting = []));
      waiting.push({ client, resolve, reject });
    });
  }

  private async writeUnwritten(): Promise<void> {
    const batch = [...this.unwritten].map(([channel, waiting]) => {
      // Each client's entry as it is now: a later add replaced it, a remove took it out.
      const own = this.ownPresence.get(channel);
      const entries = new Map<string, PresenceEntry>();
      for (const { client } of waiting) {
        const entry = own?.get(client);
        if (entry) entries.set(client, entry);
      }
      return { channel, waiting, entries: [...entries.values()] };
    });
    this.unwritten.clear();
    const written = batch.filter(({ entries }) => entries.length > 0);
    const index = this.run(null, (redis) =>
      this.indexPresence(
        redis,
        written.map(({ channel, entries }): [string, PresenceEntry[]] => [channel, entries]),
      ),
    );
    await Promise.allSettled(
      batch.map(async ({ channel, waiting, entries }) => {
        try {
          if (entries.length > 0) await Promise.all([this.run(null, (redis) => this.writePresence(redis.multi(), channel, entries).exec()), index]);
        } catch (error) {
          for (const { reject } of waiting) reject(error);
          return;
        }
        for (const { client, resolve } of waiting) resolve(entries.some((entry) => entry.client === client));
      }),
    );
  }

  private writePresence(multi: ReturnType<RedisClient['multi']>, channel: string, entries: PresenceEntry[]) {
    const expiresAt = this.now() + this.presenceTtl;
    // One HSET and one ZADD for all the entries.
    const fields: Array<string | Buffer> = [];
    const expiries: Array<string | number> = [];
    for (const entry of entries) {
      fields.push(entry.client, Buffer.from(encode(entry, { ignoreUndefined: true })));
      expiries.push(expiresAt, entry.client);
      if (entry.user !== null) {
        const connections = this.userKey(channel, entry.user);
        multi.zadd(connections, 'XX', expiresAt, entry.client).pexpire(connections, this.presenceTtl * 2);
      }
    }
    if (entries.length > 0) multi.hset(this.key('p', channel), ...fields).zadd(this.key('pe', channel), ...expiries);
    multi.pexpire(this.key('p', channel), this.presenceTtl * 2).pexpire(this.key('pe', channel), this.presenceTtl * 2);
    return multi;
  }

  /**
   * Index presence entries under this node, so that a survivor finds them if
   * this node dies. The index is in the nodes' Cluster slot, so it is written
   * apart from the channels' keys.
   */
  private async indexPresence(redis: Connection, entries: Array<[string, PresenceEntry[]]>): Promise<void> {
    if (!this.lease || entries.length === 0) return;
    const index = this.lease.indexKey();
    const members = entries.flatMap(([channel, list]) => list.map((entry) => RedisNodes.member(channel, entry.client)));
    await redis
      .multi()
      .sadd(index, ...members)
      .pexpire(index, this.presenceTtl * 2)
      .exec();
  }

  async registerNode(lease: NodeLease): Promise<void> {
    if (!this.commands) throw new SwitchboardError('unavailable', 'the broker is closed');
    this.lease = new RedisNodes(
      () => this.commands,
      this.prefix,
      lease,
      () => void this.refreshPresence(),
      (channel) => [this.key('p', channel), this.key('pe', channel)],
      (channel, entry) => this.forgetConnection(channel, entry),
      (id) => this.ledger.dropNode(id),
    );
    await this.run(null, () => this.lease!.start());
    // Entries added before the lease existed were not indexed yet.
    await this.refreshPresence();
  }

  async nodes(): Promise<NodeRecord[]> {
    return this.run(null, async () => (this.lease ? this.lease.nodes() : []));
  }

  private async refreshPresence(): Promise<void> {
    const redis = this.commands;
    if (!redis || redis.status !== 'ready' || this.ownPresence.size === 0) return;
    // One transaction per channel: a channel's keys share a Cluster slot, different channels' do not.
    const writes = [...this.ownPresence].map(([channel, entries]) => this.writePresence(redis.multi(), channel, [...entries.values()]).exec());
    const own = [...this.ownPresence].map(([channel, entries]): [string, PresenceEntry[]] => [channel, [...entries.values()]]);
    const results = await Promise.allSettled([...writes, this.indexPresence(redis, own)]); // retried at the next tick
    if (results.some((result) => result.status === 'rejected' && isTimeout(result.reason))) this.timeouts++;
  }

  private receive(topic: string, message: Buffer): void {
    const channel = topic.slice(this.prefix.length + 2, -'}:c'.length);
    if (!this.handler || !this.subscribed.has(channel)) return;
    const colon = message.indexOf(0x3a);
    const kind = message.subarray(0, 1).toString();
    const body = message.subarray(colon + 1);
    if (kind === 'p') {
      const offsetText = message.subarray(1, colon).toString();
      const publication = decode(body) as Publication;
      if (offsetText) publication.offset = Number(offsetText);
      this.handler(channel, { kind: 'publication', publication });
    } else {
      const presence = PRESENCE_KINDS.get(kind);
      if (presence) this.handler(channel, { kind: presence, entry: decode(body) as PresenceEntry });
    }
  }

  /**
   * Run a command; a Redis that is away or silent becomes the contract's
   * `unavailable`. `late` says what a command that timed out may still do.
   */
  private async run<T>(late: string | null, command: (redis: Connection) => Promise<T>): Promise<T> {
    if (!this.commands) throw new SwitchboardError('unavailable', 'the broker is closed');
    try {
      return await command(this.commands);
    } catch (error) {
      if (!isTimeout(error)) throw new SwitchboardError('unavailable', `broker unavailable: ${(error as Error).message}`);
      this.timeouts++;
      const said = `broker unavailable: no answer within ${this.timeout} ms`;
      throw new SwitchboardError('unavailable', late ? `${said}; ${late}` : said);
    }
  }

  /** Connect again a connection that ioredis gave up while the broker is open (see start()). */
  private revive(connection: Redis): void {
    if (this.stopped || (connection !== this.commands && connection !== this.subscriber)) return;
    const timer = setTimeout(() => {
      // Should this attempt fail, ioredis retries as after any drop, or it ends again and comes back here.
      if (!this.stopped && connection.status === 'end') connection.connect().catch(() => {});
    }, REVIVE_DELAY);
    timer.unref();
  }

  /** After an outage, once both connections are back, the subscribed channels hear they had a gap. */
  private announceInterruption(): void {
    if (!this.interrupted || this.commands?.status !== 'ready' || this.subscriber?.status !== 'ready') return;
    this.interrupted = false;
    for (const channel of this.subscribed.keys()) this.handler?.(channel, { kind: 'interrupted' });
  }

  /** The `{channel}` hash tag keeps a channel's keys in one Cluster slot, so one script can touch them all. */
  private key(kind: string, channel: string): string {
    return `${this.prefix}:{${channel}}:${kind}`;
  }

  /**
   * A channel's idempotency key: the channel's own key name with the key
   * appended after "|", which no channel name contains, so that two channels
   * cannot share one (and a hash tag in the channel part keeps it in the slot
   * of the channel's other keys).
   */
  private onceKey(channel: string, idempotencyKey: string): string {
    return `${this.key('i', channel)}|${idempotencyKey}`;
  }
}

function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.message === TIMED_OUT;
}

/**
 * Whether one connection still answers: it is sent a PING whenever none is
 * outstanding (valid in subscriber mode too), and is silent once a PING has
 * gone unanswered with nothing answered for `timeout` ms, or one timed out.
 */
class Probe {
  private outstanding = false;
  private lastAnswer = Date.now();
  private timedOut = false;
  /** Bumped on every (re)connect, so that a PING of an earlier connection does not count. */
  private connection = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly timeout: number,
  ) {
    // A fresh connection starts with a clean record; its status covers the outage.
    redis.on('ready', () => {
      this.connection++;
      this.outstanding = false;
      this.lastAnswer = Date.now();
      this.timedOut = false;
    });
  }

  send(): void {
    if (this.outstanding || this.redis.status !== 'ready') return;
    const connection = this.connection;
    this.outstanding = true;
    this.redis.ping().then(
      () => {
        if (connection !== this.connection) return;
        this.outstanding = false;
        this.lastAnswer = Date.now();
        this.timedOut = false;
      },
      (error: unknown) => {
        if (connection !== this.connection) return;
        this.outstanding = false;
        // A closed connection is told by its status; only silence counts here.
        if (isTimeout(error)) this.timedOut = true;
      },
    );
  }

  answering(): boolean {
    if (this.timedOut) return false;
    return !this.outstanding || Date.now() - this.lastAnswer <= this.timeout;
  }
}

/** A stream entry [id, [field, value, ...]] as a stored publication. */
function toStored(raw: Raw): StoredPublication {
  const [id, fields] = raw as [Buffer, Buffer[]];
  const values = new Map<string, Buffer>();
  for (let i = 0; i < fields.length; i += 2) values.set(fields[i]!.toString(), fields[i + 1]!);
  return { offset: Number(id.toString().split('-')[0]), at: Number(values.get('at')!.toString()), data: values.get('d')! };
}
