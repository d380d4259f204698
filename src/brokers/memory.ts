// The single-node broker: everything lives in this process, so delivery is
// synchronous and in publish order. History dies with the process, and a new
// process gives every channel a new epoch.
import type { PresenceEntry } from '../protocol/frames.js';
import { historyPage, newEpoch, unexpired, type StoredPublication } from './history.js';
import type {
  Broker,
  ChannelEvent,
  ChannelEventHandler,
  HistoryPage,
  HistoryPolicy,
  HistoryQuery,
  Publication,
} from './broker.js';

interface ChannelLog {
  epoch: string;
  offset: number;
  entries: StoredPublication[];
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
  /** Clock, for tests of ttl eviction. */
  now?: () => number;
}

export class MemoryBroker implements Broker {
  readonly name = 'memory';
  private handler: ChannelEventHandler | null = null;
  private readonly subscribed = new Set<string>();
  private readonly logs = new Map<string, ChannelLog>();
  private readonly presenceByChannel = new Map<string, Map<string, PresenceEntry>>();
  private readonly positionTtl: number;
  private readonly sweepInterval: number;
  private readonly now: () => number;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(options: MemoryBrokerOptions = {}) {
    this.positionTtl = options.positionTtl ?? 3_600_000;
    this.sweepInterval = options.sweepInterval ?? 60_000;
    this.now = options.now ?? Date.now;
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

  async publish(channel: string, publication: Publication, history: HistoryPolicy | null): Promise<number | null> {
    let offset: number | null = null;
    let delivered: Publication = publication;
    if (history) {
      const log = this.log(channel, history);
      offset = ++log.offset;
      const stored: StoredPublication = { ...publication, offset, at: this.now() };
      log.entries.push(stored);
      if (log.entries.length > history.size) log.entries.splice(0, log.entries.length - history.size);
      delivered = { ...publication, offset };
    }
    this.deliver(channel, { kind: 'publication', publication: delivered });
    return offset;
  }

  async emit(channel: string, event: ChannelEvent & { kind: 'join' | 'leave' }): Promise<void> {
    this.deliver(channel, event);
  }

  async subscribe(channel: string): Promise<void> {
    this.subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.subscribed.delete(channel);
  }

  async history(channel: string, query: HistoryQuery, history: HistoryPolicy): Promise<HistoryPage> {
    const log = this.log(channel, history);
    return historyPage(log.epoch, log.offset, log.entries, query);
  }

  async addPresence(channel: string, entry: PresenceEntry): Promise<void> {
    let clients = this.presenceByChannel.get(channel);
    if (!clients) this.presenceByChannel.set(channel, (clients = new Map()));
    clients.set(entry.client, entry);
  }

  async removePresence(channel: string, client: string): Promise<void> {
    const clients = this.presenceByChannel.get(channel);
    if (!clients) return;
    clients.delete(client);
    if (clients.size === 0) this.presenceByChannel.delete(channel);
  }

  async presence(channel: string): Promise<PresenceEntry[]> {
    return [...(this.presenceByChannel.get(channel)?.values() ?? [])];
  }

  private deliver(channel: string, event: ChannelEvent): void {
    if (this.handler && this.subscribed.has(channel)) this.handler(channel, event);
  }

  /** The channel's log with expired publications dropped; created with a new epoch when missing. */
  private log(channel: string, history: HistoryPolicy): ChannelLog {
    const now = this.now();
    let log = this.logs.get(channel);
    if (!log) {
      log = { epoch: newEpoch(), offset: 0, entries: [], lastUsed: now, ttl: history.ttl };
      this.logs.set(channel, log);
    }
    log.lastUsed = now;
    log.ttl = history.ttl;
    expire(log, now);
    return log;
  }

  /** Forget channels nobody here listens to whose history is gone and position is stale. */
  private sweep(): void {
    const now = this.now();
    for (const [channel, log] of this.logs) {
      expire(log, now);
      const idle = log.entries.length === 0 && now - log.lastUsed > this.positionTtl;
      if (idle && !this.subscribed.has(channel)) this.logs.delete(channel);
    }
  }
}

function expire(log: ChannelLog, now: number): void {
  log.entries = unexpired(log.entries, now, log.ttl);
}
