// Cluster-wide tallies and webhook queues in Redis (broker.ts, EventLedger).
// Every change is one script, so a transition and the event it queues are one
// atomic step: of two nodes racing, exactly one sees a user's first connection
// or a channel's last subscriber, and the event is in Redis before the script
// answers, so it outlives the node that caused it.
//
// Keys, all under the `{ledger}` hash tag (one Cluster slot; the scripts
// build their key names from the prefix in ARGV[1], all in the slot of KEYS[1]):
// `t:<tally>` (set of members), `up` (set of tallies whose rise was queued),
// `due` (zset: emptied tally -> when it goes down), `n:<node>` (set of the
// node's members, for its cleanup when it dies), `q:<queue>` (list of events,
// oldest first), `ql:<queue>` (the delivery lease: the holder's node id),
// `seq` (event id counter), `rv:u:<user>` / `rv:j:<jti>` (a revocation, with
// its own expiry) and `rv` (zset: revocation key -> expiry, for the bound).
import type { Redis } from 'ioredis';
import type { EventLedger, EventRoutes, QueuedEvent, Revocation, TallyAnswer, TallyMember } from './broker.js';

const LIB = `
local P = ARGV[1]
local RISE = {user = 'user.online', channel = 'channel.occupied'}
local FALL = {user = 'user.offline', channel = 'channel.vacated'}
local function now_ms()
  local t = redis.call('TIME')
  return t[1] * 1000 + math.floor(t[2] / 1000)
end
local function push_event(routes, kind, event)
  local dropped = 0
  for _, q in ipairs(routes.queues[kind] or {}) do
    local key = P .. 'q:' .. q
    local n = redis.call('RPUSH', key, event)
    while n > routes.bound do
      redis.call('LPOP', key)
      n = n - 1
      dropped = dropped + 1
    end
  end
  return dropped
end
local function push(routes, kind, scope, key)
  local now = now_ms()
  local event = cjson.encode({id = 'msg_' .. now .. '_' .. redis.call('INCR', P .. 'seq'), type = kind, at = now, data = {[scope] = key}})
  return push_event(routes, kind, event)
end
local function settle(routes)
  local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', now_ms(), 'LIMIT', 0, 256)
  local dropped = 0
  for _, tid in ipairs(due) do
    redis.call('ZREM', P .. 'due', tid)
    if redis.call('SCARD', P .. 't:' .. tid) == 0 and redis.call('SREM', P .. 'up', tid) == 1 then
      local t = cjson.decode(tid)
      dropped = dropped + push(routes, FALL[t[1]], t[1], t[2])
    end
  end
  return dropped
end
`;

// ARGV: prefix, scope, key, member, node, limit, routes. Returns {count (-1: over limit), dropped}.
const ADD = `${LIB}
local routes = cjson.decode(ARGV[7])
local tid = cjson.encode({ARGV[2], ARGV[3]})
local set = P .. 't:' .. tid
local limit = tonumber(ARGV[6])
if limit > 0 and redis.call('SISMEMBER', set, ARGV[4]) == 0 and redis.call('SCARD', set) >= limit then return {-1, 0} end
redis.call('SADD', set, ARGV[4])
redis.call('ZREM', P .. 'due', tid)
redis.call('SADD', P .. 'n:' .. ARGV[5], cjson.encode({ARGV[2], ARGV[3], ARGV[4]}))
local dropped = 0
if redis.call('SADD', P .. 'up', tid) == 1 then dropped = push(routes, RISE[ARGV[2]], ARGV[2], ARGV[3]) end
return {redis.call('SCARD', set), dropped}`;

// ARGV: prefix, scope, key, member, node, grace ms, routes. Returns {count, dropped}.
const REMOVE = `${LIB}
local routes = cjson.decode(ARGV[7])
local tid = cjson.encode({ARGV[2], ARGV[3]})
local set = P .. 't:' .. tid
redis.call('SREM', P .. 'n:' .. ARGV[5], cjson.encode({ARGV[2], ARGV[3], ARGV[4]}))
local removed = redis.call('SREM', set, ARGV[4])
local count = redis.call('SCARD', set)
if removed == 1 and count == 0 then redis.call('ZADD', P .. 'due', now_ms() + tonumber(ARGV[6]), tid) end
return {count, settle(routes)}`;

// ARGV: prefix, routes. Returns dropped.
const SETTLE = `${LIB}
return settle(cjson.decode(ARGV[2]))`;

// ARGV: prefix, dead node, routes. Its members out at once; idempotent (the index goes with them).
const DROP_NODE = `${LIB}
local routes = cjson.decode(ARGV[3])
local index = P .. 'n:' .. ARGV[2]
local now = now_ms()
for _, m in ipairs(redis.call('SMEMBERS', index)) do
  local t = cjson.decode(m)
  local tid = cjson.encode({t[1], t[2]})
  if redis.call('SREM', P .. 't:' .. tid, t[3]) == 1 and redis.call('SCARD', P .. 't:' .. tid) == 0 then
    redis.call('ZADD', P .. 'due', now, tid)
  end
end
redis.call('DEL', index)
return settle(routes)`;

// ARGV: prefix, routes, then type and JSON of each event. Returns dropped.
const ENQUEUE = `${LIB}
local routes = cjson.decode(ARGV[2])
local dropped = 0
for i = 3, #ARGV, 2 do dropped = dropped + push_event(routes, ARGV[i], ARGV[i + 1]) end
return dropped`;

// ARGV: prefix, queue, node, lease ms. The head event (JSON) if this node holds the lease; else nil.
const CLAIM = `
local P = ARGV[1]
local lease = P .. 'ql:' .. ARGV[2]
local holder = redis.call('GET', lease)
if holder and holder ~= ARGV[3] then return false end
redis.call('SET', lease, ARGV[3], 'PX', ARGV[4])
return redis.call('LINDEX', P .. 'q:' .. ARGV[2], 0)`;

// ARGV: prefix, queue, id. Pops the head if it is that event.
const ACK = `
local key = ARGV[1] .. 'q:' .. ARGV[2]
local head = redis.call('LINDEX', key, 0)
if head and cjson.decode(head).id == ARGV[3] then redis.call('LPOP', key) end
return 0`;

// ARGV: prefix, key, before (0 for a jti), ttl ms, bound. Returns 1 when held, 0 when over the bound.
const REVOKE = `
local P = ARGV[1]
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZREMRANGEBYSCORE', P .. 'rv', '-inf', now)
local key = P .. 'rv:' .. ARGV[2]
local held = redis.call('GET', key)
if not held and redis.call('ZCARD', P .. 'rv') >= tonumber(ARGV[5]) then return 0 end
local before = math.max(tonumber(ARGV[3]), tonumber(held or '0'))
local ttl = math.max(tonumber(ARGV[4]), redis.call('PTTL', key))
redis.call('SET', key, before, 'PX', ttl)
redis.call('ZADD', P .. 'rv', now + ttl, ARGV[2])
return 1`;

interface LedgerScripts {
  ledgerAdd(base: string, ...args: Array<string | number>): Promise<[number, number]>;
  ledgerRemove(base: string, ...args: Array<string | number>): Promise<[number, number]>;
  ledgerSettle(base: string, ...args: string[]): Promise<number>;
  ledgerDropNode(base: string, ...args: string[]): Promise<number>;
  ledgerEnqueue(base: string, ...args: string[]): Promise<number>;
  ledgerClaim(base: string, ...args: Array<string | number>): Promise<string | null>;
  ledgerAck(base: string, ...args: string[]): Promise<number>;
  ledgerRevoke(base: string, ...args: Array<string | number>): Promise<number>;
}

export type LedgerConnection = Redis & LedgerScripts;

export function defineLedgerScripts(redis: Redis): void {
  redis.defineCommand('ledgerAdd', { numberOfKeys: 1, lua: ADD });
  redis.defineCommand('ledgerRemove', { numberOfKeys: 1, lua: REMOVE });
  redis.defineCommand('ledgerSettle', { numberOfKeys: 1, lua: SETTLE });
  redis.defineCommand('ledgerDropNode', { numberOfKeys: 1, lua: DROP_NODE });
  redis.defineCommand('ledgerEnqueue', { numberOfKeys: 1, lua: ENQUEUE });
  redis.defineCommand('ledgerClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('ledgerAck', { numberOfKeys: 1, lua: ACK });
  redis.defineCommand('ledgerRevoke', { numberOfKeys: 1, lua: REVOKE });
}

export class RedisLedger implements EventLedger {
  /** Every key's name starts with this; the `{webhooks}` tag puts them in one slot. */
  private readonly p: string;
  /** The key that routes each script to that slot. */
  private readonly base: string;
  /** The routes last used, for cleaning up a dead node (the nodes share one config). */
  private routes: EventRoutes | null = null;

  constructor(
    /** Runs a command as the broker does (a Redis away is `unavailable`). */
    private readonly run: <T>(command: (redis: LedgerConnection) => Promise<T>) => Promise<T>,
    prefix: string,
    /** This node's id, which indexes its members. */
    private readonly node: () => string,
  ) {
    this.p = `${prefix}:{ledger}:`;
    this.base = `${this.p}seq`;
  }

  async tallyAdd(member: TallyMember, routes: EventRoutes, limit = 0): Promise<TallyAnswer> {
    const args = [this.p, member.scope, member.key, member.member, this.node(), limit, this.json(routes)];
    const [count, dropped] = await this.run((redis) => redis.ledgerAdd(this.base, ...args));
    return { count, dropped };
  }

  async tallyRemove(member: TallyMember, graceMs: number, routes: EventRoutes): Promise<TallyAnswer> {
    const args = [this.p, member.scope, member.key, member.member, this.node(), graceMs, this.json(routes)];
    const [count, dropped] = await this.run((redis) => redis.ledgerRemove(this.base, ...args));
    return { count, dropped };
  }

  settleTallies(routes: EventRoutes): Promise<number> {
    return this.run((redis) => redis.ledgerSettle(this.base, this.p, this.json(routes)));
  }

  /** A dead node's members out, by the one survivor that claimed its cleanup (redis-nodes.ts). */
  async dropNode(node: string): Promise<void> {
    if (this.routes) await this.run((redis) => redis.ledgerDropNode(this.base, this.p, node, JSON.stringify(this.routes)));
  }

  enqueue(events: QueuedEvent[], routes: EventRoutes): Promise<number> {
    const args = events.flatMap((event) => [event.type, JSON.stringify(event)]);
    return this.run((redis) => redis.ledgerEnqueue(this.base, this.p, this.json(routes), ...args));
  }

  async claimHead(queue: string, node: string, leaseMs: number): Promise<QueuedEvent | null> {
    const head = await this.run((redis) => redis.ledgerClaim(this.base, this.p, queue, node, leaseMs));
    return head ? (JSON.parse(head) as QueuedEvent) : null;
  }

  async ack(queue: string, id: string): Promise<void> {
    await this.run((redis) => redis.ledgerAck(this.base, this.p, queue, id));
  }

  async queued(queues: string[]): Promise<number> {
    if (queues.length === 0) return 0;
    const lengths = await this.run((redis) => Promise.all(queues.map((queue) => redis.llen(`${this.p}q:${queue}`))));
    return lengths.reduce((sum, n) => sum + n, 0);
  }

  async revoke(revocation: Revocation, ttlMs: number, bound: number): Promise<boolean> {
    const [key, before] = 'jti' in revocation ? [`j:${revocation.jti}`, 0] : [`u:${revocation.user}`, revocation.before];
    return (await this.run((redis) => redis.ledgerRevoke(this.base, this.p, key, before, Math.max(1, Math.round(ttlMs)), bound))) === 1;
  }

  async isRevoked(user: string, issuedAt: number | null, jti: string | null): Promise<boolean> {
    const keys = [`${this.p}rv:u:${user}`, ...(jti === null ? [] : [`${this.p}rv:j:${jti}`])];
    const [before, byJti] = await this.run((redis) => redis.mget(...keys));
    if (before !== null && before !== undefined && (issuedAt === null || issuedAt < Number(before))) return true;
    return byJti !== null && byJti !== undefined;
  }

  async revocations(): Promise<number> {
    return this.run((redis) => redis.zcount(`${this.p}rv`, Date.now(), '+inf'));
  }

  /** The routes as the scripts read them; remembered for dead nodes' cleanup. */
  private json(routes: EventRoutes): string {
    this.routes = routes;
    return JSON.stringify(routes);
  }
}
