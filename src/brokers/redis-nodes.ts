// Nodes on a shared Redis: each holds a lease it renews, and when one lapses a
// survivor takes the dead node's presence entries out and hands them to its
// server, which announces the leaves (docs/scaling.md, "Nodes and ghosts").
//
// Keys, all under the `{nodes}` hash tag: `nodes` (zset: node id -> lease expiry), `node:<id>` (the node's
// record, JSON), `np:<id>` (set: [channel, client] of each presence entry the
// node holds), `cleanup` (zset: dead node id -> expiry of the claim of the
// survivor cleaning it up). Leases are timed by Redis's clock (TIME in the
// scripts), so clock skew between nodes cannot kill a live one.
import type { Redis } from 'ioredis';
import { decode } from '@msgpack/msgpack';
import type { NodeLease, NodeRecord } from './broker.js';
import type { PresenceEntry } from '../protocol/frames.js';

// KEYS: nodes, record. ARGV: id, record, lease ms. Returns 0 when the lease
// had been taken away (a survivor declared this node dead), else 1.
const RENEW = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
if held then return 1 else return 0 end`;

// KEYS: nodes, cleanup. ARGV: claim ms, max. Moves lapsed leases to cleanup,
// claimed for `claim ms`, and retakes claims whose cleaner died too. Atomic,
// so each dead node is claimed by exactly one survivor at a time.
const CLAIM = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local claimed = {}
for _, key in ipairs(KEYS) do
  local lapsed = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
  for _, id in ipairs(lapsed) do
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), id)
    table.insert(claimed, id)
  end
end
return claimed`;

// KEYS: nodes. Ids of live leases.
const LIVE = `
local t = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. (t[1] * 1000 + math.floor(t[2] / 1000)), '+inf')`;

// KEYS: entries hash, expiry zset. ARGV: clients. Removes those still there and returns them.
const REMOVE = `
local removed = {}
for _, client in ipairs(ARGV) do
  local entry = redis.call('HGET', KEYS[1], client)
  if entry then
    redis.call('HDEL', KEYS[1], client)
    redis.call('ZREM', KEYS[2], client)
    table.insert(removed, entry)
  end
end
return removed`;

/** Dead nodes claimed per sweep; the rest wait for the next one. */
const CLAIMS_PER_SWEEP = 16;

interface NodeScripts {
  renewLease(nodes: string, record: string, id: string, data: string, lease: number): Promise<number>;
  claimDead(nodes: string, cleanup: string, claim: number, max: number): Promise<string[]>;
  liveNodes(nodes: string): Promise<string[]>;
  removePresenceOfBuffer(entries: string, expiry: string, ...clients: string[]): Promise<Buffer[]>;
}

export type NodeConnection = Redis & NodeScripts;

export function defineNodeScripts(redis: Redis): void {
  redis.defineCommand('renewLease', { numberOfKeys: 2, lua: RENEW });
  redis.defineCommand('claimDead', { numberOfKeys: 2, lua: CLAIM });
  redis.defineCommand('liveNodes', { numberOfKeys: 1, lua: LIVE });
  redis.defineCommand('removePresenceOf', { numberOfKeys: 2, lua: REMOVE });
}

export class RedisNodes {
  readonly id: string;
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    private readonly connection: () => NodeConnection | null,
    private readonly prefix: string,
    private readonly lease: NodeLease,
    /** This node's lease had lapsed and was taken away: write its presence entries again. */
    private readonly onRevived: () => void,
    /** A channel's presence keys (entries hash, expiry zset), as the broker names them. */
    private readonly presenceKeys: (channel: string) => [string, string],
    /** Take a removed entry out of its user's connections; resolves with how many are left. */
    private readonly forgetConnection: (channel: string, entry: PresenceEntry) => Promise<number>,
    /** Take a dead node's tally members out (its users and channels go down); idempotent. */
    private readonly dropTallies: (id: string) => Promise<void>,
  ) {
    this.id = lease.describe().node;
  }

  /**
   * A lease lasts three quarters of the ttl and is renewed every quarter, so
   * two renewals may be lost before a node is dead; survivors look every
   * quarter, so a dead node's entries are gone within the ttl.
   */
  private get leaseMs(): number {
    return Math.max(1, Math.round((this.lease.ttl * 3) / 4));
  }

  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(() => void this.tick(), Math.max(10, Math.round(this.lease.ttl / 4)));
    this.timer.unref();
  }

  /** Leave the cluster on a clean shutdown: no survivor needs to clean up after us. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const redis = this.connection();
    if (!redis || redis.status !== 'ready') return;
    // Best effort: if Redis cannot hear it, the lease lapses and a survivor cleans up instead.
    await redis
      .multi()
      .zrem(this.key('nodes'), this.id)
      .del(this.key(`node:${this.id}`), this.indexKey())
      .exec()
      .catch(() => {});
  }

  async nodes(): Promise<NodeRecord[]> {
    const redis = this.connection();
    if (!redis) return [];
    const ids = await redis.liveNodes(this.key('nodes'));
    if (ids.length === 0) return [];
    const records = await redis.mget(...ids.map((id) => this.key(`node:${id}`)));
    return records.flatMap((record) => (record ? [JSON.parse(record) as NodeRecord] : []));
  }

  /** The key of the set indexing this node's presence entries. */
  indexKey(id = this.id): string {
    return this.key(`np:${id}`);
  }

  /** An entry of the index: channel and client, unambiguous whatever the channel's characters. */
  static member(channel: string, client: string): string {
    return JSON.stringify([channel, client]);
  }

  private async tick(): Promise<void> {
    const redis = this.connection();
    if (!redis || redis.status !== 'ready') return; // the broker's health and logs tell the outage
    await this.renew().catch(() => {});
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.sweep(redis);
    } catch {
      // Retried at the next tick; a claim this node could not finish lapses and is retaken.
    } finally {
      this.sweeping = false;
    }
  }

  private async renew(): Promise<void> {
    const redis = this.connection();
    if (!redis) return;
    const held = await redis.renewLease(this.key('nodes'), this.key(`node:${this.id}`), this.id, JSON.stringify(this.lease.describe()), this.leaseMs);
    // Declared dead while alive (a long pause): survivors took our entries out; put them back.
    if (held === 0 && this.timer) this.onRevived();
  }

  private async sweep(redis: NodeConnection): Promise<void> {
    const dead = await redis.claimDead(this.key('nodes'), this.key('cleanup'), this.lease.ttl, CLAIMS_PER_SWEEP);
    for (const id of dead) {
      const members = await this.cleanUp(redis, id);
      await this.dropTallies(id);
      // Only what was cleaned up leaves the index (and no record is deleted):
      // a node declared dead while alive may be writing its own back.
      const multi = redis.multi().zrem(this.key('cleanup'), id);
      if (members.length > 0) multi.srem(this.indexKey(id), ...members);
      await multi.exec();
    }
  }

  /** Take a dead node's presence entries out, channel by channel, and hand them to the server. */
  private async cleanUp(redis: NodeConnection, id: string): Promise<string[]> {
    const members = await redis.smembers(this.indexKey(id));
    const byChannel = new Map<string, string[]>();
    for (const member of members) {
      const [channel, client] = JSON.parse(member) as [string, string];
      let clients = byChannel.get(channel);
      if (!clients) byChannel.set(channel, (clients = []));
      clients.push(client);
    }
    for (const [channel, clients] of byChannel) {
      const [entries, expiry] = this.presenceKeys(channel);
      const removed = await redis.removePresenceOfBuffer(entries, expiry, ...clients);
      if (removed.length === 0) continue;
      const orphans = removed.map((value) => decode(value) as PresenceEntry);
      const left = await Promise.all(orphans.map((entry) => this.forgetConnection(channel, entry)));
      this.lease.onOrphans(channel, orphans, left);
    }
    return members;
  }

  /** Every node key shares one Cluster slot (the `{nodes}` hash tag), so the scripts and MGET may touch several. */
  private key(name: string): string {
    return `${this.prefix}:{nodes}:${name}`;
  }
}
