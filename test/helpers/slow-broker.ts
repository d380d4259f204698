// A real broker whose subscribe and history answers yield to the event loop
// first, as a network broker's do: publications then arrive while a
// subscription is being set up, which the hub must buffer and de-duplicate.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Broker, ChannelEventHandler, HistoryPolicy, HistoryQuery, NodeLease, Publication, PublishOptions } from '../../src/brokers/broker.js';
import type { PresenceEntry } from '../../src/protocol/frames.js';

export class SlowAnswers implements Broker {
  constructor(private readonly inner: Broker, private readonly turns = 3) {}
  get name() {
    return this.inner.name;
  }
  private async wait() {
    for (let i = 0; i < this.turns; i++) await nextTurn();
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
  publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions) {
    return this.inner.publish(channel, publication, history, options);
  }
  emit(channel: string, event: Parameters<Broker['emit']>[1]) {
    return this.inner.emit(channel, event);
  }
  async subscribe(channel: string) {
    await this.inner.subscribe(channel);
    await this.wait();
  }
  unsubscribe(channel: string) {
    return this.inner.unsubscribe(channel);
  }
  async history(channel: string, query: HistoryQuery, history: HistoryPolicy) {
    await this.wait();
    const page = await this.inner.history(channel, query, history);
    // The answer travels back while more publications are delivered.
    await this.wait();
    return page;
  }
  addPresence(channel: string, entry: PresenceEntry) {
    return this.inner.addPresence(channel, entry);
  }
  removePresence(channel: string, client: string, user?: string | null) {
    return this.inner.removePresence(channel, client, user);
  }
  presence(channel: string) {
    return this.inner.presence(channel);
  }
  registerNode(lease: NodeLease) {
    return this.inner.registerNode(lease);
  }
  nodes() {
    return this.inner.nodes();
  }
  presenceCount(channel: string) {
    return this.inner.presenceCount(channel);
  }
}
