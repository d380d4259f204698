// A broker that forwards every call to another one, for wrappers that add
// something around the calls that answer with data (timing in /metrics, a
// test's slow network) without restating the whole interface.
import type { PresenceEntry } from '../protocol/frames.js';
import type {
  Broker,
  ChannelEvent,
  ChannelEventHandler,
  EventLedger,
  HistoryPolicy,
  HistoryQuery,
  NodeLease,
  PresenceEventKind,
  Publication,
  PublishOptions,
} from './broker.js';

/** The calls that go through `around`, by name. */
export type BrokerOperation =
  'publish' | 'emit' | 'subscribe' | 'unsubscribe' | 'history' | 'addPresence' | 'removePresence' | 'presence' | 'presenceCount' | 'nodes';

export class DelegatingBroker implements Broker {
  constructor(protected readonly inner: Broker) {}

  /** Runs each data call; a subclass adds its own work around `call`. */
  protected around<T>(_operation: BrokerOperation, call: () => Promise<T>): Promise<T> {
    return call();
  }

  get durable(): boolean | undefined {
    return this.inner.durable;
  }

  get name(): string {
    return this.inner.name;
  }
  start(handler: ChannelEventHandler): Promise<void> {
    return this.inner.start(handler);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  isHealthy(): boolean {
    return this.inner.isHealthy();
  }
  limitHits(): Iterable<[string, number]> {
    return this.inner.limitHits?.() ?? [];
  }
  registerNode(lease: NodeLease): Promise<void> {
    return this.inner.registerNode(lease);
  }
  publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions): Promise<number | null> {
    return this.around('publish', () => this.inner.publish(channel, publication, history, options));
  }
  emit(channel: string, event: ChannelEvent & { kind: PresenceEventKind }): Promise<void> {
    return this.around('emit', () => this.inner.emit(channel, event));
  }
  subscribe(channel: string): Promise<void> {
    return this.around('subscribe', () => this.inner.subscribe(channel));
  }
  unsubscribe(channel: string): Promise<void> {
    return this.around('unsubscribe', () => this.inner.unsubscribe(channel));
  }
  history(channel: string, query: HistoryQuery, history: HistoryPolicy) {
    return this.around('history', () => this.inner.history(channel, query, history));
  }
  addPresence(channel: string, entry: PresenceEntry): Promise<number> {
    return this.around('addPresence', () => this.inner.addPresence(channel, entry));
  }
  removePresence(channel: string, client: string, user?: string | null): Promise<number> {
    return this.around('removePresence', () => this.inner.removePresence(channel, client, user));
  }
  presence(channel: string): Promise<PresenceEntry[]> {
    return this.around('presence', () => this.inner.presence(channel));
  }
  presenceCount(channel: string): Promise<{ clients: number; users: number }> {
    return this.around('presenceCount', () => this.inner.presenceCount(channel));
  }
  nodes() {
    return this.around('nodes', () => this.inner.nodes());
  }
  get ledger(): EventLedger {
    return this.inner.ledger;
  }
}
