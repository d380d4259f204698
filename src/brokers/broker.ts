// The one interface every broker implements: memory, Redis, and the workers'
// IPC broker (there is no NATS broker: the `nats` config key is reserved and
// refused). The broker is the only part of Switchboard that knows whether
// other nodes exist: it carries publications and presence events between nodes
// and keeps channel history.
import type { ClientIdentity, PresenceEntry, StreamPosition } from '../protocol/frames.js';

/**
 * A namespace's history settings: keep the newest `size` publications for
 * `ttl` ms, and at most `bytes` of them (oldest evicted first).
 */
export interface HistoryPolicy {
  size: number;
  ttl: number;
  bytes?: number;
}

export interface Publication {
  /** Present on channels with history. */
  offset?: number;
  payload: unknown;
  /** Absent for publications made through the HTTP API. */
  from?: ClientIdentity;
  /** Not delivered to the connection `from.client` (docs/protocol.md, "Excluding the publisher"). */
  excludeSender?: true;
}

/** How a publish with an idempotency key is deduplicated (docs/protocol.md, "Idempotent publish"). */
export interface PublishOptions {
  /** Within `window` ms, a second publish with this key on the same channel is neither stored nor delivered. */
  idempotencyKey?: string;
  /** ms the key is remembered; required with `idempotencyKey`. */
  window?: number;
}

/** What a broker delivers to every node subscribed to a channel, in publish order. */
export type ChannelEvent =
  | { kind: 'publication'; publication: Publication }
  /** A client joined, left, or changed its presence info ('update', docs/protocol.md "Presence updates"). */
  | { kind: PresenceEventKind; entry: PresenceEntry }
  /** Delivery on this channel stopped for a while: publications may have been missed. */
  | { kind: 'interrupted' };

export type PresenceEventKind = 'join' | 'leave' | 'update';

export type ChannelEventHandler = (channel: string, event: ChannelEvent) => void;

export interface HistoryQuery {
  /** Return publications after this position, oldest first. */
  since?: StreamPosition;
  /** At most this many; with `since` the oldest ones, without it the newest ones. */
  limit?: number;
  /** At most about this many bytes of stored publications (at least one is returned); the page then says `truncated`. */
  maxBytes?: number;
  /**
   * A read that must not create state: a channel with none answers an empty
   * page with a fresh epoch (so a later subscribe cannot claim recovery from it).
   */
  readOnly?: boolean;
}

export interface HistoryPage {
  epoch: string;
  /** Offset of the channel's newest publication; 0 when none. */
  offset: number;
  publications: Publication[];
  /**
   * With `since`: true when the epoch matched and every publication after
   * `since.offset` was still held, so `publications` (when not cut by `limit`)
   * is exactly what was missed. Without `since`: always false.
   */
  recovered: boolean;
  /** True when `maxBytes` cut the page short. */
  truncated?: boolean;
}

/**
 * What a node says about itself in its lease: `node` is its id; the rest
 * (address, version, connections, rates...) is the server's business and is
 * stored and returned as given (JSON).
 */
export interface NodeRecord {
  node: string;
  [field: string]: unknown;
}

/**
 * Presence entries of a node whose lease lapsed, removed from `channel` by
 * this node. Exactly one surviving node is handed each dead node's entries.
 * `left[i]` is how many connections of `entries[i]`'s user are still present
 * (0 for an anonymous entry), as removePresence answers, so a per-user `leave`
 * is sent only for a user who has gone.
 */
export type OrphanHandler = (channel: string, entries: PresenceEntry[], left: number[]) => void;

export interface NodeLease {
  /** Called at every renewal: what the node record says now. */
  describe: () => NodeRecord;
  /** Entries of dead nodes this node cleaned up, for it to announce (leave events). */
  onOrphans: OrphanHandler;
  /**
   * A node not renewed for this long is dead: it drops out of nodes(), and a
   * survivor removes its presence entries within this time.
   */
  ttl: number;
}

export interface Broker {
  /** A short name for logs and /api/stats ("memory", "redis", "workers"). */
  readonly name: string;
  /**
   * Publications outlive this process (Redis): a draining node takes
   * publishes until each connection's turn to close. Otherwise (memory,
   * workers) they are refused `unavailable` from the start of the drain, and
   * the SDK sends them again to the process that takes over.
   */
  readonly durable?: boolean;
  /** Connect and start delivering events of subscribed channels to `handler`. */
  start(handler: ChannelEventHandler): Promise<void>;
  /** Stop delivering and release connections. */
  close(): Promise<void>;
  /** False while the broker cannot publish or deliver (e.g. its server is down). */
  isHealthy(): boolean;
  /** Bounds this broker enforced (evictions by bytes or channel count), by limit name, for /metrics. */
  limitHits?(): Iterable<[string, number]>;

  /**
   * Deliver a publication to every node subscribed to `channel`. With a history
   * policy the publication is stored and takes the channel's next offset, which
   * is returned; without one the offset is null. With an idempotency key
   * already seen on this channel within its window, nothing is stored or
   * delivered and the first publish's offset (or null) is returned.
   */
  publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions): Promise<number | null>;
  /** Deliver a join, leave or update event; never stored. */
  emit(channel: string, event: ChannelEvent & { kind: PresenceEventKind }): Promise<void>;

  /** This node wants the channel's events. Resolves once none published after it can be missed. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;

  /** The channel's stored publications and position. */
  history(channel: string, query: HistoryQuery, history: HistoryPolicy): Promise<HistoryPage>;

  /**
   * Add or refresh a presence entry. Resolves with how many connections of the
   * entry's user are present on the channel now, this one included (1 for an
   * anonymous entry): counted atomically with the add, so that of two
   * connections of one user joining at once on two nodes exactly one sees 1.
   */
  addPresence(channel: string, entry: PresenceEntry): Promise<number>;
  /** Remove a presence entry; resolves with how many connections of `user` are left (0 for anonymous). */
  removePresence(channel: string, client: string, user?: string | null): Promise<number>;
  presence(channel: string): Promise<PresenceEntry[]>;

  /**
   * Register this node (after start) and keep its lease renewed until close.
   * A broker with one node (memory) only remembers it.
   */
  registerNode(lease: NodeLease): Promise<void>;
  /** The nodes whose lease is live, this one included, each as last renewed. */
  nodes(): Promise<NodeRecord[]>;
  /** Numbers of present connections and distinct users, without sending the list. */
  presenceCount(channel: string): Promise<{ clients: number; users: number }>;

  /** Cluster-wide tallies and webhook queues (docs/protocol.md section 11), kept where this broker keeps shared state. */
  readonly ledger: EventLedger;
}

/**
 * A webhook event as queued (docs/protocol.md section 11): `id` is its
 * `webhook-id`, the same on every retry; `at` (ms since the epoch) is when it
 * happened, sent as the body's ISO `timestamp`.
 */
export interface QueuedEvent {
  id: string;
  type: string;
  at: number;
  data: Record<string, unknown>;
}

/** Where events go: the queues (one per webhook endpoint) that want each event type, and the bound on each queue's length. */
export interface EventRoutes {
  queues: Record<string, string[]>;
  /** A queue past this many events drops its oldest; the drops are answered so the node counts them. */
  bound: number;
}

/**
 * One member of a cluster-wide tally: a user's connections (`scope` 'user',
 * `key` the user, `member` a client id) or a channel's subscribers ('channel',
 * the channel, a client id). The first member anywhere makes the key "up" (an
 * event `user.online` / `channel.occupied` is queued in the same atomic step);
 * the key goes "down" (`user.offline` / `channel.vacated`) once it has had no
 * member for the grace given at removal. Members of a dead node are removed by
 * the one survivor that cleans it up, with no grace.
 */
export interface TallyMember {
  scope: 'user' | 'channel';
  key: string;
  member: string;
}

/** What a tally change answers: the members of the key now (-1: refused, over `limit`), and events dropped by the queue bound. */
export interface TallyAnswer {
  count: number;
  dropped: number;
}

/** A token revocation: the user's tokens issued before `before` (seconds since the epoch), or the token with this `jti`. */
export type Revocation = { user: string; before: number } | { jti: string };

/**
 * Cluster-wide tallies, the webhook queues and token revocations, kept where
 * the brokers keep shared state (this process, the workers' primary, or
 * Redis), so that each transition is queued exactly once, by one atomic step,
 * and outlives the node that queued it.
 */
export interface EventLedger {
  /** Add a member (a repeat is no change). With `limit` > 0, refused (count -1) when the key already has that many. */
  tallyAdd(member: TallyMember, routes: EventRoutes, limit?: number): Promise<TallyAnswer>;
  /** Remove a member; when none is left, the key goes down after `graceMs` unless one is added before. */
  tallyRemove(member: TallyMember, graceMs: number, routes: EventRoutes): Promise<TallyAnswer>;
  /** Queue the down events of keys whose grace has passed; answers how many events the bound dropped. */
  settleTallies(routes: EventRoutes): Promise<number>;
  /** Queue events to every queue that wants their type; answers how many the bound dropped. */
  enqueue(events: QueuedEvent[], routes: EventRoutes): Promise<number>;
  /**
   * The oldest event of `queue` if this node holds the queue's delivery lease
   * (taken or renewed for `leaseMs`); null when it is empty or another node holds it.
   */
  claimHead(queue: string, node: string, leaseMs: number): Promise<QueuedEvent | null>;
  /** The head `id` was delivered (or given up): take it off `queue`. */
  ack(queue: string, id: string): Promise<void>;
  /** Events waiting in these queues, all together. */
  queued(queues: string[]): Promise<number>;
  /**
   * Hold a revocation for `ttlMs` (a user's later `before` replaces an earlier
   * one). False, and nothing held, when `bound` revocations are held already.
   */
  revoke(revocation: Revocation, ttlMs: number, bound: number): Promise<boolean>;
  /** Whether a token of `user` issued at `issuedAt` (seconds; null: unknown, counts as revoked by a user's revocation) with `jti` is revoked. */
  isRevoked(user: string, issuedAt: number | null, jti: string | null): Promise<boolean>;
  /** Revocations held now. */
  revocations(): Promise<number>;
}
