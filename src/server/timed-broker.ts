// The broker as the hub sees it: every operation a client's request waits on
// is timed, so that /metrics shows how long the broker takes to answer.
import type { Broker, ChannelEvent, ChannelEventHandler, HistoryPolicy, HistoryQuery, NodeLease, Publication, PublishOptions } from '../brokers/broker.js';
import type { PresenceEntry } from '../protocol/frames.js';

/** Told of every timed operation when it settles: its name, seconds taken, and whether it succeeded. */
export type BrokerObserver = (operation: string, seconds: number, ok: boolean) => void;

export class TimedBroker implements Broker {
  observer: BrokerObserver | null = null;

  constructor(private readonly inner: Broker) {}

  get name(): string {
    return this.inner.name;
  }

  private async time<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await call();
      this.observer?.(operation, (performance.now() - started) / 1000, true);
      return result;
    } catch (error) {
      this.observer?.(operation, (performance.now() - started) / 1000, false);
      throw error;
    }
  }

  start(handler: ChannelEventHandler) {
    return this.inner.start(handler);
  }
  close() {
    return this.inner.close();
  }
  isHealthy() {
    return this.inner.isHealthy();
  }
  limitHits() {
    return this.inner.limitHits?.() ?? [];
  }
  publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions) {
    return this.time('publish', () => this.inner.publish(channel, publication, history, options));
  }
  emit(channel: string, event: ChannelEvent & { kind: 'join' | 'leave' }) {
    return this.time('emit', () => this.inner.emit(channel, event));
  }
  subscribe(channel: string) {
    return this.time('subscribe', () => this.inner.subscribe(channel));
  }
  unsubscribe(channel: string) {
    return this.time('unsubscribe', () => this.inner.unsubscribe(channel));
  }
  history(channel: string, query: HistoryQuery, history: HistoryPolicy) {
    return this.time('history', () => this.inner.history(channel, query, history));
  }
  addPresence(channel: string, entry: PresenceEntry) {
    return this.time('addPresence', () => this.inner.addPresence(channel, entry));
  }
  removePresence(channel: string, client: string, user?: string | null) {
    return this.time('removePresence', () => this.inner.removePresence(channel, client, user));
  }

  presenceCount(channel: string) {
    return this.time('presenceCount', () => this.inner.presenceCount(channel));
  }
  presence(channel: string) {
    return this.time('presence', () => this.inner.presence(channel));
  }
  registerNode(lease: NodeLease) {
    return this.inner.registerNode(lease);
  }
  nodes() {
    return this.time('nodes', () => this.inner.nodes());
  }
}
