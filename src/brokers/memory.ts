// The single-node broker: everything lives in this process, so delivery is
// synchronous and in publish order. History dies with the process, and a new
// process gives every channel a new epoch. Every byte a client can make it
// hold is bounded: publications per channel by count and bytes, all of them by
// bytes per node, and channels with state by count.
import { SwitchboardError } from '../protocol/codes.js';
import type { PresenceEntry } from '../protocol/frames.js';
import { IdempotencyKeys } from './idempotency-keys.js';
import { MemoryLedger } from './memory-ledger.js';
import { emptyPage, encodePublication, firstUnexpired, historyPage, newEpoch, type StoredPublication } from './history.js';
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

interface Held extends StoredPublication {
  /** Evicted: set so the node-wide age queue can skip it. */
  gone?: boolean;
}

interface ChannelLog {
  epoch: string;
  offset: number;
  /** Held publications, oldest first. */
  entries: Held[];
  bytes: number;
  lastUsed: number;
  /** The namespace's ttl as last seen, for the sweeper. */
  ttl: number;
}

export interface MemoryBrokerOptions {
  /**
   * How long an idle channel's position (epoch and offset) is kept after its
   * last publication expired, so that clients that saw nothing new can still
   * recover. Default one hour.
   */
  positionTtl?: number;
  /** How often idle channels are swept. Default one minute. */
  sweepInterval?: number;
  /** Stored publication bytes, all channels together; the oldest go first. Default 256 MiB. */
  maxBytes?: number;
  /** Channels with history state; the least recently used one without subscribers goes first. Default 100,000. */
  maxChannels?: number;
  /** Idempotency keys remembered per channel; the oldest is forgotten first. Default 100,000. */
  idempotencyKeysPerChannel?: number;
  /** Bytes of idempotency keys remembered, all channels together. Default 64 MiB. */
  idempotencyBytes?: number;
  /** Clock, for tests of ttl eviction. */
  now?: () => number;
  /** Told of each bound hit as it happens (the workers' host attributes hits to the worker whose call hit them). */
  onLimitHit?: (limit: string) => void;
}

/** How many least recently used channels a new one looks at for one to evict. */
const EVICTION_SCAN = 64;

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  private handler: ChannelEventHandler | null = null;
  private readonly subscribed = new Set<string>();
  /** Channel logs in least recently used order (a use moves a log to the end). */
  private readonly logs = new Map<string, ChannelLog>();
  private readonly presenceByChannel = new Map<string, Map<string, PresenceEntry>>();
  /** channel -> user -> that user's connections present, for per-user join/leave and counts. */
  private readonly usersByChannel = new Map<string, Map<string, number>>();
  /** Every held publication in the order stored, for evicting the node's oldest first. */
  private age: Array<{ log: ChannelLog; entry: Held }> = [];
  private ageHead = 0;
  private heldCount = 0;
  private totalBytes = 0;
  private readonly hits = new Map<string, number>();
  private readonly positionTtl: number;
  private readonly sweepInterval: number;
  private readonly maxBytes: number;
  private readonly maxChannels: number;
  private readonly now: () => number;
  private readonly onLimitHit: ((limit: string) => void) | undefined;
  private sweeper: NodeJS.Timeout | null = null;
  private lease: NodeLease | null = null;
  private readonly keys: IdempotencyKeys;

  constructor(options: MemoryBrokerOptions = {}) {
    this.keys = new IdempotencyKeys({ perChannel: options.idempotencyKeysPerChannel ?? 100_000, bytes: options.idempotencyBytes ?? 67_108_864 }, (limit) =>
      this.hit(limit),
    );
    this.positionTtl = options.positionTtl ?? 3_600_000;
    this.sweepInterval = options.sweepInterval ?? 60_000;
    this.maxBytes = options.maxBytes ?? 268_435_456;
    this.maxChannels = options.maxChannels ?? 100_000;
    this.now = options.now ?? Date.now;
    this.onLimitHit = options.onLimitHit;
  }

  async start(handler: ChannelEventHandler): Promise<void> {
    this.handler = handler;
    this.sweeper = setInterval(() => this.sweep(), this.sweepInterval);
    this.sweeper.unref();
  }

  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    this.handler = null;
  }

  isHealthy(): boolean {
    return this.handler !== null;
  }

  limitHits(): Iterable<[string, number]> {
    return this.hits.entries();
  }

  /** Bytes of publications held, all channels together. */
  get heldBytes(): number {
    return this.totalBytes;
  }

  /** Channels with history state. */
  get channelCount(): number {
    return this.logs.size;
  }

  async publish(channel: string, publication: Publication, history: HistoryPolicy | null, options: PublishOptions = {}): Promise<number | null> {
    const { idempotencyKey: key, window } = options;
    if (key !== undefined && window !== undefined) {
      const first = this.keys.seen(channel, key, this.now());
      if (first !== undefined) return first;
    }
    let offset: number | null = null;
    let delivered: Publication = publication;
    if (history) {
      const data = encodePublication(publication);
      const log = this.log(channel, history);
      offset = ++log.offset;
      const entry: Held = { offset, at: this.now(), data };
      log.entries.push(entry);
      this.heldCount++;
      log.bytes += data.byteLength;
      this.totalBytes += data.byteLength;
      this.age.push({ log, entry });
      this.trimChannel(log, history);
      this.trimNode();
      delivered = { ...publication, offset };
    }
    if (key !== undefined && window !== undefined) this.keys.remember(channel, key, offset, window, this.now());
    this.deliver(channel, { kind: 'publication', publication: delivered });
    return offset;
  }

  async emit(channel: string, event: ChannelEvent & { kind: PresenceEventKind }): Promise<void> {
    this.deliver(channel, event);
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async history(channel: string, query: HistoryQuery, history: HistoryPolicy): Promise<HistoryPage> {
    if (query.readOnly && !this.logs.has(channel)) return emptyPage();
    const log = this.log(channel, history);
    return historyPage(log.epoch, log.offset, log.entries, query);
  }

  async addPresence(channel: string, entry: PresenceEntry): Promise<number> {
    let clients = this.presenceByChannel.get(channel);
    if (!clients) this.presenceByChannel.set(channel, (clients = new Map<string, PresenceEntry>()));
    const refresh = clients.has(entry.client);
    clients.set(entry.client, entry);
    if (entry.user === null) return 1;
    let users = this.usersByChannel.get(channel);
    if (!users) this.usersByChannel.set(channel, (users = new Map<string, number>()));
    const count = (users.get(entry.user) ?? 0) + (refresh ? 0 : 1);
    users.set(entry.user, count);
    return count;
  }

  async removePresence(channel: string, client: string): Promise<number> {
    const clients = this.presenceByChannel.get(channel);
    const entry = clients?.get(client);
    if (!clients || !entry) return 0;
    clients.delete(client);
    if (clients.size === 0) this.presenceByChannel.delete(channel);
    if (entry.user === null) return 0;
    const users = this.usersByChannel.get(channel)!;
    const left = users.get(entry.user)! - 1;
    if (left > 0) users.set(entry.user, left);
    else users.delete(entry.user);
    if (users.size === 0) this.usersByChannel.delete(channel);
    return left;
  }

  async presence(channel: string): Promise<PresenceEntry[]> {
    return [...(this.presenceByChannel.get(channel)?.values() ?? [])];
  }

  /** Tallies and webhook queues, on the wall clock (`options.now` is the history's clock, which tests move). */
  readonly ledger = new MemoryLedger();

  /** One node: it is the cluster, and it never outlives itself, so it has no orphans. */
  async registerNode(lease: NodeLease): Promise<void> {
    this.lease = lease;
  }

  async nodes(): Promise<NodeRecord[]> {
    return this.lease && this.handler ? [this.lease.describe()] : [];
  }

  async presenceCount(channel: string): Promise<{ clients: number; users: number }> {
    return { clients: this.presenceByChannel.get(channel)?.size ?? 0, users: this.usersByChannel.get(channel)?.size ?? 0 };
  }

  private deliver(channel: string, event: ChannelEvent): void {
    if (this.handler && this.subscribed.has(channel)) this.handler(channel, event);
  }

  /** The channel's log with expired publications dropped; created with a new epoch when missing. */
  private log(channel: string, history: HistoryPolicy): ChannelLog {
    const now = this.now();
    let log = this.logs.get(channel);
    if (log) {
      this.logs.delete(channel); // re-inserted below: most recently used
    } else {
      if (this.logs.size >= this.maxChannels) this.evictChannel();
      log = { epoch: newEpoch(), offset: 0, entries: [], bytes: 0, lastUsed: now, ttl: history.ttl };
    }
    this.logs.set(channel, log);
    log.lastUsed = now;
    log.ttl = history.ttl;
    this.expire(log, now);
    return log;
  }

  /** Make room for one channel: forget the least recently used one that no subscriber here holds. */
  private evictChannel(): void {
    let scanned = 0;
    for (const [channel, log] of this.logs) {
      if (scanned++ >= EVICTION_SCAN) break;
      if (this.subscribed.has(channel)) {
        // Skip it from now on: move it to the recently used end.
        this.logs.delete(channel);
        this.logs.set(channel, log);
        continue;
      }
      this.forget(channel, log);
      this.hit('maxChannels');
      return;
    }
    this.hit('maxChannels');
    throw new SwitchboardError('unavailable', `this node holds its maximum of ${this.maxChannels} channels`);
  }

  private forget(channel: string, log: ChannelLog): void {
    this.drop(log, log.entries.length);
    this.logs.delete(channel);
  }

  /** Evict the channel's oldest publications past its count and byte limits; the newest always stays. */
  private trimChannel(log: ChannelLog, history: HistoryPolicy): void {
    let over = Math.max(0, log.entries.length - history.size);
    if (history.bytes !== undefined && log.bytes > history.bytes) {
      let bytes = log.bytes;
      for (let i = 0; i < log.entries.length - 1 && bytes > history.bytes; i++) {
        if (i >= over) {
          over = i + 1;
          this.hit('historyBytesPerChannel');
        }
        bytes -= log.entries[i]!.data.byteLength;
      }
    }
    this.drop(log, over);
  }

  /** Evict the node's oldest publications, whatever their channel, until the total fits. */
  private trimNode(): void {
    while (this.totalBytes > this.maxBytes && this.ageHead < this.age.length) {
      const { log, entry } = this.age[this.ageHead++]!;
      // Not gone yet (by count, ttl or its channel's bytes): then it is its channel's oldest.
      if (!entry.gone && log.entries[0] === entry) {
        this.drop(log, 1);
        this.hit('historyBytes');
      }
    }
    // Dropped entries stay in `age` until passed; compact when they dominate it.
    if (this.age.length - this.ageHead > 2 * this.heldCount + 1024) {
      this.age = this.age.slice(this.ageHead).filter(({ entry }) => !entry.gone);
      this.ageHead = 0;
    }
  }

  /** Remove the channel's `count` oldest publications. */
  private drop(log: ChannelLog, count: number): void {
    if (count <= 0) return;
    const removed = log.entries.splice(0, count);
    this.heldCount -= removed.length;
    for (const entry of removed) {
      entry.gone = true;
      log.bytes -= entry.data.byteLength;
      this.totalBytes -= entry.data.byteLength;
    }
  }

  private expire(log: ChannelLog, now: number): void {
    this.drop(log, firstUnexpired(log.entries, now, log.ttl));
  }

  private hit(limit: string): void {
    this.hits.set(limit, (this.hits.get(limit) ?? 0) + 1);
    this.onLimitHit?.(limit);
  }

  /** Forget channels nobody here listens to whose history is gone and position is stale. */
  private sweep(): void {
    const now = this.now();
    this.keys.expire(now);
    for (const [channel, log] of this.logs) {
      this.expire(log, now);
      const idle = log.entries.length === 0 && now - log.lastUsed > this.positionTtl;
      if (idle && !this.subscribed.has(channel)) this.logs.delete(channel);
    }
  }
}
