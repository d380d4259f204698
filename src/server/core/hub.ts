// The channel index and fan-out: which local sessions listen to which channel,
// how a subscription catches up (replay, then buffered live publications, with
// duplicates dropped by offset), and how broker events reach sockets.
import type { Broker, ChannelEvent, Publication } from '../../brokers/broker.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import type { Codec } from '../../protocol/codec.js';
import type { ClientIdentity, HistoryResult, MessageFrame, PresenceEntry, PresenceResult, StreamPosition, SubscribeResult } from '../../protocol/frames.js';
import type { Config, NamespaceConfig } from '../config.js';
import type { LimitHits } from '../limit-hits.js';
import type { Namespaces } from './namespaces.js';
import type { Session, Subscription } from './session.js';
import type { SharedFrame } from './transport.js';
import { namespaceOf } from '../../protocol/channels.js';
import type { HistoryPage } from '../../brokers/broker.js';
import { Tally } from '../tally.js';
import type { Lifecycle } from './lifecycle.js';
import { presenceInfoBytes } from '../../protocol/presence-info.js';
import { ChannelDelta, type DeltaRound } from './delta.js';
import { SubscribeReads } from './subscribe-reads.js';

/** Publications held for one pending subscription before the session is cut off as too slow. */
const MAX_PENDING = 10_000;

export interface SubscribeOptions {
  /** 'self': the client is not sent its own publications (docs/protocol.md, "Excluding the publisher"). */
  exclude?: 'self';
  /** Shown for this client in the channel's presence, instead of the token's info. */
  info?: unknown;
  /** 'fossil': publications after the first come as Fossil deltas from the previous one (docs/protocol.md, "Delta compression"). */
  delta?: 'fossil';
  /** Send the channel's last `rewind` publications right after the reply (docs/protocol.md, "Rewind"); never with `since`. */
  rewind?: number;
}

export interface HubStats {
  /** Publications the broker delivered to this node. */
  publications: number;
  delivered: number;
  /** Subscriptions held by this node's sessions (pending or live). */
  subscriptions: number;
}

/** Why a subscribe with `since` did or did not recover (docs/protocol.md, "History and recovery"). */
export type RecoveryOutcome = 'recovered' | 'epoch_changed' | 'evicted' | 'future_position' | 'no_history';

/** Counts by namespace and outcome, for /metrics; plain numbers, read when scraped. */
export class HubTallies {
  /** Publications made through this node, by namespace. */
  readonly published = new Tally();
  /** Publications the broker delivered to this node, by namespace. */
  readonly received = new Tally();
  /** Message frames sent to subscribers, by namespace. */
  readonly delivered = new Tally();
  /** Subscribes with `since`, by outcome. */
  readonly recoveries = new Tally();
  /** History reads of subscribes, by kind: `asked` (subscribes), `sent` (broker reads, shared by those asked together). */
  readonly subscribeReads = new Tally();
}

export class Hub {
  /**
   * channel -> local sessions subscribed to it (pending or live), each with its
   * subscription: fan-out reads both without a lookup per subscriber.
   */
  private readonly channels = new Map<string, Map<Session, Subscription>>();
  /** channel -> the broker subscription this node holds for it */
  private readonly brokerSubscriptions = new Map<string, Promise<void>>();
  /** channel -> its last publication fanned out, for the subscriptions that asked for deltas */
  private readonly deltas = new Map<string, ChannelDelta>();
  readonly stats: HubStats = { publications: 0, delivered: 0, subscriptions: 0 };
  readonly tallies = new HubTallies();
  /** The history reads of subscribes, shared by those of one channel asked together (a reconnect storm). */
  private readonly reads: SubscribeReads;
  /** Told of live subscriptions coming and going (webhooks). */
  lifecycle: Lifecycle | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly namespaces: Namespaces,
    private readonly limits: Config['limits'],
    private readonly hits: LimitHits,
    /** ms a publish's idempotency key is remembered (config idempotencyWindow). */
    private readonly idempotencyWindow = 300_000,
    /** Failures no request is waiting for (a join event the broker could not carry): logged by the core. */
    private readonly onError: (error: unknown, what: string) => void = () => {},
  ) {
    this.reads = new SubscribeReads(broker, this.tallies.subscribeReads);
  }

  /** Called by the broker for every event of a channel this node subscribed to. */
  readonly onBrokerEvent = (channel: string, event: ChannelEvent): void => {
    const sessions = this.channels.get(channel);
    if (!sessions) return;
    if (event.kind === 'publication') {
      this.stats.publications++;
      const before = this.stats.delivered;
      this.fanOut(channel, sessions, event.publication);
      const namespace = namespaceOf(channel);
      this.tallies.received.inc([namespace]);
      if (this.stats.delivered > before) this.tallies.delivered.inc([namespace], this.stats.delivered - before);
      return;
    }
    if (event.kind === 'interrupted') {
      // Live delivery had a gap: the clients recover it from history by
      // reconnecting with their last position.
      for (const session of sessions.keys()) session.close(CloseCode.Reconnect, 'delivery was interrupted; reconnect to recover');
      return;
    }
    const encoded = new EncodeOnce({ type: event.kind === 'update' ? 'presence_update' : event.kind, channel, payload: event.entry });
    sessions.forEach((subscription, session) => {
      if (subscription.live) session.sendShared(encoded.for(session.codec));
    });
  };

  /**
   * Subscribe `session` to `channel`. `ready` runs once the reply can be sent;
   * recovered and buffered publications follow it in order, then live ones.
   */
  async subscribe(
    session: Session,
    channel: string,
    /** The channel's namespace, its rules already checked by the caller (the server's own subscriptions skip them). */
    namespace: NamespaceConfig,
    since: StreamPosition | undefined,
    ready: (result: SubscribeResult) => void,
    options: SubscribeOptions = {},
  ): Promise<void> {
    // A session that went away while a hook decided is past removeSession:
    // anything registered for it now would never be undone.
    if (session.closed) return;
    if (session.subscriptions.has(channel)) {
      throw new SwitchboardError('already_subscribed', `already subscribed to ${channel}`);
    }
    const historySize = namespace.history?.size ?? 0;
    if (options.rewind !== undefined && options.rewind > historySize) {
      throw new SwitchboardError('bad_request', `rewind is at most the history size of ${channel}'s namespace (${historySize})`);
    }
    if (options.delta && namespace.delta !== options.delta) {
      throw new SwitchboardError('bad_request', `${channel}'s namespace has no "delta": "${options.delta}"`);
    }
    if (session.subscriptions.size >= this.limits.subscriptionsPerConnection) {
      this.hits.hit('subscriptionsPerConnection');
      throw new SwitchboardError('forbidden', `at most ${this.limits.subscriptionsPerConnection} subscriptions per connection`);
    }
    const subscription: Subscription = { live: false, buffer: [], lastOffset: null, info: options.info ?? session.identity.info };
    if (options.exclude === 'self') subscription.excludeSelf = true;
    if (namespace.slowConsumer === 'latest') subscription.latest = true;
    if (options.delta) {
      subscription.delta = true;
      let channelDelta = this.deltas.get(channel);
      if (!channelDelta) this.deltas.set(channel, (channelDelta = new ChannelDelta()));
      channelDelta.subscribers++;
    }
    const tracksPresence = namespace.presence !== false || namespace.joinLeave === 'user';
    let connections = 0;
    session.subscriptions.set(channel, subscription);
    this.stats.subscriptions++;
    this.index(channel).set(session, subscription);
    let replay: Publication[] = [];
    let result: SubscribeResult;
    try {
      await this.brokerSubscription(channel);
      if (namespace.history) {
        // Rewind is a replay from the newest `rewind` publications instead of
        // from a position: the same path, so live ones buffered meanwhile
        // follow with duplicates dropped by offset.
        const rewind = options.rewind ?? 0;
        // Read with the other subscribes of this channel asked meanwhile (a
        // read sent only after this subscription was registered, as above).
        const page = await this.reads.read(channel, since ? { since } : { limit: rewind }, namespace.history);
        const recovered = since !== undefined && page.recovered;
        if (since) this.tallies.recoveries.inc([recoveryOutcome(since, page)]);
        if (recovered || rewind > 0) replay = page.publications;
        // Publications buffered since this subscription was registered all
        // follow it, even those that were published before the history read:
        // the position the client starts from is just before the first of them.
        const firstBuffered = subscription.buffer[0]?.offset;
        const start = firstBuffered === undefined ? page.offset : Math.min(page.offset, firstBuffered - 1);
        const rewoundFrom = replay[0]?.offset;
        subscription.lastOffset = recovered ? since.offset : rewoundFrom !== undefined ? rewoundFrom - 1 : start;
        result = { channel, epoch: page.epoch, offset: recovered ? page.offset : subscription.lastOffset, recovered };
      } else {
        if (since) this.tallies.recoveries.inc(['no_history']);
        result = { channel, epoch: null, offset: null, recovered: false };
      }
      if (tracksPresence) connections = await this.broker.addPresence(channel, presenceEntry(session, subscription));
    } catch (error) {
      if (session.subscriptions.get(channel) === subscription) this.detach(session, channel);
      throw error;
    }
    if (session.subscriptions.get(channel) !== subscription) {
      // Unsubscribed or disconnected while we waited: undo the presence entry
      // that leave() could not see yet, and still answer the request.
      if (tracksPresence) await this.broker.removePresence(channel, session.id, session.user);
      if (!session.closed) ready(result);
      return;
    }

    ready(result);
    const before = this.stats.delivered;
    for (const publication of replay) this.deliver(session, channel, subscription, publication);
    for (const publication of subscription.buffer) this.deliver(session, channel, subscription, publication);
    if (this.stats.delivered > before) this.tallies.delivered.inc([namespaceOf(channel)], this.stats.delivered - before);
    subscription.buffer = [];
    subscription.live = true;
    this.lifecycle
      ?.subscribed(session.context(), channel, subscription.info, namespace.presence !== false)
      .catch((error: unknown) => this.onError(error, 'subscribe webhooks'));
    // The reply has gone out: a join event the broker fails to carry must not
    // turn into a second answer to the same request.
    // Per user: only the user's first connection here is a join.
    const joins = namespace.joinLeave === 'user' ? connections === 1 : namespace.joinLeave;
    if (joins)
      this.broker.emit(channel, { kind: 'join', entry: presenceEntry(session, subscription) }).catch((error: unknown) => this.onError(error, 'join event'));
  }

  async unsubscribe(session: Session, channel: string): Promise<void> {
    if (!session.subscriptions.has(channel)) {
      throw new SwitchboardError('not_subscribed', `not subscribed to ${channel}`);
    }
    await this.leave(session, channel);
  }

  /** Drop every subscription of a session that went away. */
  async removeSession(session: Session): Promise<void> {
    await Promise.all([...session.subscriptions.keys()].map((channel) => this.leave(session, channel)));
  }

  async publish(
    channel: string,
    payload: unknown,
    from: ClientIdentity | undefined,
    namespace: NamespaceConfig,
    options: { idempotencyKey?: string; exclude?: 'self' } = {},
  ): Promise<number | null> {
    const publication: Publication = from ? { payload, from } : { payload };
    if (from && options.exclude === 'self') publication.excludeSender = true;
    const { idempotencyKey } = options;
    const keyed = idempotencyKey === undefined ? {} : { idempotencyKey, window: this.idempotencyWindow };
    const offset = await this.broker.publish(channel, publication, namespace.history, keyed);
    this.tallies.published.inc([namespaceOf(channel)]);
    return offset;
  }

  /**
   * Set `session`'s presence info on a channel it subscribed: the presence
   * list shows it, and where the namespace has join/leave every subscriber
   * gets a presence_update (docs/protocol.md, "Presence updates").
   */
  async updatePresence(session: Session, channel: string, info: unknown): Promise<void> {
    const subscription = session.subscriptions.get(channel);
    if (!subscription) throw new SwitchboardError('not_subscribed', `not subscribed to ${channel}`);
    this.checkPresenceInfo(info);
    subscription.info = info;
    const namespace = this.namespaces.resolve(channel);
    const entry = presenceEntry(session, subscription);
    if (namespace.presence !== false || namespace.joinLeave === 'user') {
      await this.broker.addPresence(channel, entry);
      // Left while the entry was written: take it out again, as subscribe does.
      if (session.subscriptions.get(channel) !== subscription) {
        await this.broker.removePresence(channel, session.id, session.user);
        return;
      }
    }
    if (namespace.joinLeave) await this.broker.emit(channel, { kind: 'update', entry });
  }

  /** payload_too_large when `info` is over limits.presenceInfoBytes, measured as stored (MessagePack). */
  checkPresenceInfo(info: unknown): void {
    const bytes = presenceInfoBytes(info);
    if (bytes <= this.limits.presenceInfoBytes) return;
    this.hits.hit('presenceInfoBytes');
    throw new SwitchboardError('payload_too_large', `presence info is ${bytes} bytes, over limits.presenceInfoBytes (${this.limits.presenceInfoBytes})`);
  }

  /**
   * A dead node's presence entries this node took out (docs/scaling.md,
   * "Nodes and ghosts"): tell the channel they left, where it has join/leave
   * (per user: only users with no connection left, as `left` says).
   */
  async announceOrphans(channel: string, entries: PresenceEntry[], left: number[]): Promise<void> {
    let namespace: NamespaceConfig;
    try {
      namespace = this.namespaces.resolve(channel);
    } catch {
      return; // a namespace this node's config no longer has
    }
    if (!namespace.joinLeave) return;
    const gone = namespace.joinLeave === 'user' ? entries.filter((_, i) => left[i] === 0) : entries;
    await Promise.all(gone.map((entry) => this.broker.emit(channel, { kind: 'leave', entry })));
  }

  /**
   * A page of the channel's history, read without creating any state, and cut
   * to `limits.maxReplyBytes` (`truncated` says so; page on with `since`).
   * `fits` checks the encoded reply, since stored sizes are MessagePack's.
   */
  async history(
    channel: string,
    namespace: NamespaceConfig,
    limit: number,
    since?: StreamPosition,
    fits: (result: HistoryResult) => boolean = () => true,
  ): Promise<HistoryResult> {
    if (!namespace.history) throw new SwitchboardError('not_found', `channel ${channel} keeps no history`);
    const maxBytes = this.limits.maxReplyBytes;
    const page = await this.broker.history(channel, { limit, maxBytes, readOnly: true, ...(since ? { since } : {}) }, namespace.history);
    // Whether the sender excluded itself is the server's business, not the reader's.
    let publications = page.publications.map(({ excludeSender: _excluded, ...p }) => ({ ...p, offset: p.offset! }));
    let truncated = page.truncated === true;
    const result = (): HistoryResult => {
      const reply: HistoryResult = { epoch: page.epoch, offset: page.offset, publications };
      if (truncated) reply.truncated = true;
      return reply;
    };
    // Encoded larger than stored (binary as JSON, escapes): keep halving until it fits.
    while (publications.length > 1 && !fits(result())) {
      const keep = Math.ceil(publications.length / 2);
      publications = since ? publications.slice(0, keep) : publications.slice(publications.length - keep);
      truncated = true;
    }
    if (truncated) this.hits.hit('maxReplyBytes');
    return result();
  }

  /** The channel's presence, cut to `limits.maxReplyBytes` when huge (`truncated` says so). */
  async presence(channel: string, namespace: NamespaceConfig): Promise<PresenceResult> {
    if (!namespace.presence) throw new SwitchboardError('not_found', `channel ${channel} has no presence`);
    // Big channels: numbers only, counted where the entries are.
    if (namespace.presence === 'count') return { clients: [], count: await this.broker.presenceCount(channel) };
    const clients = await this.broker.presence(channel);
    let bytes = 0;
    for (let i = 0; i < clients.length; i++) {
      bytes += JSON.stringify(clients[i]).length;
      if (bytes > this.limits.maxReplyBytes && i > 0) {
        this.hits.hit('maxReplyBytes');
        return { clients: clients.slice(0, i), truncated: true };
      }
    }
    return { clients };
  }

  localChannelCount(): number {
    return this.channels.size;
  }

  /**
   * This node's `top` channels by local subscribers, most first. One pass
   * keeping a short sorted list, so a node with many channels never sorts them all.
   */
  busiestChannels(top: number): Array<{ channel: string; subscribers: number }> {
    const best: Array<{ channel: string; subscribers: number }> = [];
    for (const [channel, sessions] of this.channels) {
      const subscribers = sessions.size;
      if (best.length === top && subscribers <= best[best.length - 1]!.subscribers) continue;
      let i = best.length;
      while (i > 0 && best[i - 1]!.subscribers < subscribers) i--;
      best.splice(i, 0, { channel, subscribers });
      if (best.length > top) best.pop();
    }
    return best;
  }

  private async leave(session: Session, channel: string): Promise<void> {
    const subscription = session.subscriptions.get(channel);
    if (!subscription) return;
    const wasLive = subscription.live;
    this.detach(session, channel);
    const namespace = this.namespaces.resolve(channel);
    let left = 0;
    if (namespace.presence !== false || namespace.joinLeave === 'user') left = await this.broker.removePresence(channel, session.id, session.user);
    // Per user: only the user's last connection here is a leave.
    const leaves = namespace.joinLeave === 'user' ? left === 0 : namespace.joinLeave;
    if (wasLive && this.lifecycle) {
      const told = this.lifecycle.unsubscribed(session.context(), channel, subscription.info, namespace.presence !== false);
      await told.catch((error: unknown) => this.onError(error, 'unsubscribe webhooks'));
    }
    if (leaves && wasLive) {
      await this.broker.emit(channel, { kind: 'leave', entry: presenceEntry(session, subscription) });
    }
  }

  private detach(session: Session, channel: string): void {
    const subscription = session.subscriptions.get(channel);
    if (subscription) {
      releaseHeld(session, subscription);
      const channelDelta = subscription.delta ? this.deltas.get(channel) : undefined;
      if (channelDelta && --channelDelta.subscribers === 0) this.deltas.delete(channel);
      session.subscriptions.delete(channel);
      this.stats.subscriptions--;
    }
    const sessions = this.channels.get(channel);
    if (!sessions) return;
    sessions.delete(session);
    if (sessions.size === 0) {
      this.channels.delete(channel);
      this.brokerSubscriptions.delete(channel);
      this.broker.unsubscribe(channel).catch(() => {
        // A broker that is down has dropped the subscription already.
      });
    }
  }

  private index(channel: string): Map<Session, Subscription> {
    let sessions = this.channels.get(channel);
    if (!sessions) {
      this.channels.set(channel, (sessions = new Map<Session, Subscription>()));
    }
    return sessions;
  }

  /** One broker subscription per channel, shared by every local subscriber. */
  private brokerSubscription(channel: string): Promise<void> {
    let pending = this.brokerSubscriptions.get(channel);
    if (!pending) {
      pending = this.broker.subscribe(channel);
      this.brokerSubscriptions.set(channel, pending);
      pending.catch(() => {
        if (this.brokerSubscriptions.get(channel) === pending) this.brokerSubscriptions.delete(channel);
      });
    }
    return pending;
  }

  private fanOut(channel: string, sessions: Map<Session, Subscription>, publication: Publication): void {
    const message = messageFrame(channel, publication);
    const encoded = new EncodeOnce(message);
    const channelDelta = this.deltas.get(channel);
    const round = channelDelta?.round(message, publication, (codec) => encoded.for(codec));
    sessions.forEach((subscription, session) => {
      if (subscription.live) {
        this.deliver(session, channel, subscription, publication, encoded, round);
      } else if (subscription.buffer.push(publication) > MAX_PENDING) {
        session.close(CloseCode.SlowConsumer, 'too many publications while subscribing');
      }
    });
    if (round) channelDelta!.advance(round);
  }

  private deliver(session: Session, channel: string, subscription: Subscription, publication: Publication, encoded?: EncodeOnce, round?: DeltaRound): void {
    const { offset } = publication;
    if (offset !== undefined) {
      // Replay and live delivery can overlap; an offset already sent is a duplicate.
      if (subscription.lastOffset !== null && offset <= subscription.lastOffset) return;
      subscription.lastOffset = offset;
    }
    // The sender's own publication, excluded: passed over, its position still advanced.
    if (publication.from?.client === session.id && (publication.excludeSender || subscription.excludeSelf)) return;
    if (subscription.latest && (subscription.held || session.socketBufferedAmount > this.limits.latestThresholdBytes)) {
      // Behind in a 'latest' namespace: hold only the newest, send it once the
      // socket drains. What is held counts as queued for the client.
      if (subscription.held) subscription.skipped = (subscription.skipped ?? 0) + 1;
      else this.hits.hit('latestThresholdBytes');
      const bytes = (encoded ?? new EncodeOnce(messageFrame(channel, publication))).for(session.codec).data.byteLength;
      subscription.held = publication;
      if (!session.hold(bytes - (subscription.heldBytes ?? 0))) return;
      subscription.heldBytes = bytes;
      session.whenDrained(() => this.sendHeld(session));
      return;
    }
    this.stats.delivered++;
    if (subscription.delta) {
      // A delta only from what this subscriber received last; a full payload otherwise.
      const previous = subscription.lastSent;
      subscription.lastSent = publication;
      const delta = round && previous !== undefined && previous === round.previous ? round.frameFor(session.codec) : null;
      if (delta) {
        session.sendShared(delta);
        return;
      }
    }
    session.sendShared((encoded ?? new EncodeOnce(messageFrame(channel, publication))).for(session.codec));
  }

  /** The socket drained: send each channel's held publication, saying how many were skipped before it. */
  private sendHeld(session: Session): void {
    for (const [channel, subscription] of session.subscriptions) {
      const held = subscription.held;
      if (!held) continue;
      if (session.socketBufferedAmount > this.limits.latestThresholdBytes) {
        session.whenDrained(() => this.sendHeld(session));
        return;
      }
      const frame = messageFrame(channel, held);
      if (subscription.skipped) frame.skipped = subscription.skipped;
      releaseHeld(session, subscription);
      subscription.skipped = 0;
      if (subscription.delta) subscription.lastSent = held;
      this.stats.delivered++;
      session.send(frame);
    }
  }
}

/** Why a subscribe from `since` did or did not recover, from the page historyPage answered. */
export function recoveryOutcome(since: StreamPosition, page: HistoryPage): RecoveryOutcome {
  if (page.recovered) return 'recovered';
  if (since.epoch !== page.epoch) return 'epoch_changed';
  if (since.offset > page.offset) return 'future_position';
  return 'evicted';
}

/** Keys in the contract's order, so the offset comes before a large payload. */
function messageFrame(channel: string, publication: Publication): MessageFrame {
  const { offset, payload, from } = publication;
  const frame: MessageFrame = offset === undefined ? { type: 'message', channel, payload } : { type: 'message', channel, offset, payload };
  if (from) frame.from = from;
  return frame;
}

/** Drop a subscription's held publication from what its session counts as queued. */
function releaseHeld(session: Session, subscription: Subscription): void {
  subscription.held = null;
  if (subscription.heldBytes) session.hold(-subscription.heldBytes);
  subscription.heldBytes = 0;
}

function presenceEntry(session: Session, subscription: Subscription): PresenceEntry {
  return { client: session.id, user: session.user, info: subscription.info };
}

/**
 * Encodes a frame at most once per codec, to bytes, however many sessions
 * receive it; the transport builds its wire form once on the same object.
 */
class EncodeOnce {
  /** At most one entry per codec in use (two today): a scan beats a Map. */
  private readonly encoded: Array<{ codec: Codec; frame: SharedFrame }> = [];
  constructor(private readonly frame: unknown) {}
  for(codec: Codec): SharedFrame {
    for (const entry of this.encoded) if (entry.codec === codec) return entry.frame;
    const encoded = codec.encode(this.frame);
    const frame: SharedFrame = { data: typeof encoded === 'string' ? Buffer.from(encoded) : encoded, binary: codec.binary };
    this.encoded.push({ codec, frame });
    return frame;
  }
}
