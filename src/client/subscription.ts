// One channel subscription on the client: it remembers the last position seen,
// resubscribes with it after every reconnect, drops duplicates by offset, and
// tells the application when the server could not recover what was missed.
import type { SwitchboardError } from '../protocol/codes.js';
import type { MessageFrame, PresenceEntry, PresenceResult, StreamPosition, SubscribeRequest, SubscribeResult } from '../protocol/frames.js';
import { PresenceTracker, type PresenceKind } from './presence.js';
import type { DeltaBase } from './delta-base.js';
import { Emitter } from './emitter.js';

export interface SubscriptionEvents {
  /** Every successful subscribe reply: the first one, and one per reconnect. */
  subscribed: SubscribeResult;
  /**
   * The server answered `recovered: false` to a resubscribe: publications may
   * have been missed. Reload the state this channel feeds from elsewhere.
   */
  reset: SubscribeResult;
  join: PresenceEntry;
  leave: PresenceEntry;
  /** A present client changed its info (a presence_update frame). */
  update: PresenceEntry;
  /** `presence` was refetched after a (re)subscribe: the whole set, now right. */
  sync: ReadonlyMap<string, PresenceEntry>;
  /** The server refused the subscription; it is over. */
  error: SwitchboardError;
  /** The server ended this subscription (docs/protocol.md "Server-side subscriptions"). */
  unsubscribed: { channel: string };
  /**
   * This client fell behind on a 'latest' channel: the server sent only the
   * newest publication, and these were passed over (emitted just before it).
   */
  skipped: Skipped;
}

export interface Skipped {
  /** How many publications were passed over. */
  count: number;
  /** Their offsets, first and last (on channels with history). */
  from?: number;
  to?: number;
}

export interface SubscribeOptions {
  /** 'self': this client's own publications are not delivered to this handler (docs/client.md, "Excluding your own publications"). */
  exclude?: 'self';
  /** Receive the channel's last n publications first (1 to its history size); a resubscribe recovers from the position instead. */
  rewind?: number;
  /** Receive Fossil deltas from the previous publication, applied here (the client needs the `delta` option). */
  delta?: 'fossil';
}

/** What the client adds to a delta subscription's options (not for applications). */
export interface DeltaOptions {
  /** A fresh base for each (re)subscribe: the server starts every one with a full payload. */
  deltaBase?: () => DeltaBase;
  /** A delta did not apply: the connection is dropped, and the resubscribe recovers the publication in full. */
  broken?: () => void;
}

/** What a subscription asks of the server about its channel's presence. */
export interface PresenceRequests {
  presence(): Promise<PresenceResult>;
  update(info: unknown): Promise<unknown>;
}

const NO_PRESENCE: PresenceRequests = { presence: () => Promise.reject(new Error('no presence')), update: () => Promise.reject(new Error('no presence')) };

export type MessageHandler<P> = (payload: P, message: MessageFrame) => void;

export class Subscription<P = unknown> extends Emitter<SubscriptionEvents> {
  /** Last position delivered to the handler (null on channels without history). */
  position: StreamPosition | null = null;
  active = true;
  /** Resolves on the first successful reply, rejects if the server refuses. */
  readonly ready: Promise<SubscribeResult>;
  private settleReady!: (error: SwitchboardError | null, result?: SubscribeResult) => void;
  /** The info this client set with updatePresence: set again after every resubscribe. */
  private info: { value: unknown } | null = null;
  /** The last payload, to apply the next delta to (delta subscriptions). */
  private deltaBase: DeltaBase | null = null;
  /** Kept from the first read of `presence` on. */
  private tracker: PresenceTracker | null = null;
  /** True once a subscribe was answered: a rewind is not asked again. */
  private rewound = false;
  /** The `since` sent with the subscribe in flight, if any. */
  private askedSince: StreamPosition | undefined;
  /** Offsets of this client's own publications not to deliver (excluded), until passed. */
  private readonly ownOffsets = new Set<number>();

  private readonly handlers = new Set<MessageHandler<P>>();

  constructor(
    readonly channel: string,
    handler: MessageHandler<P> | null,
    private readonly leave: () => Promise<void>,
    private readonly options: SubscribeOptions & DeltaOptions = {},
    /** True for a client id this client had on one of its connections. */
    private readonly isOwnClient: (client: string) => boolean = () => false,
    /** True when the server subscribed this connection, not the application. */
    readonly byServer = false,
    /** The presence requests on this channel, sent by the client. */
    private readonly requests: PresenceRequests = NO_PRESENCE,
  ) {
    super();
    if (handler) this.handlers.add(handler);
    this.ready = new Promise((resolve, reject) => {
      this.settleReady = (error, result) => (error ? reject(error) : resolve(result!));
    });
    // An application that only listens for 'error' should not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Add a handler for this channel's publications; returns the function that removes it. */
  onMessage(handler: MessageHandler<P>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /**
   * Who is on the channel now, by client id: fetched on first read and after
   * every (re)subscribe, kept by join, leave and update frames (events `join`,
   * `leave`, `update`, and `sync` after each refetch).
   */
  get presence(): ReadonlyMap<string, PresenceEntry> {
    if (!this.tracker) {
      this.tracker = new PresenceTracker(
        () => this.requests.presence(),
        () => this.emit('sync', this.tracker!.clients),
      );
      if (this.rewound && this.active) this.tracker.sync();
    }
    return this.tracker.clients;
  }

  /**
   * Set this client's presence info on the channel (docs/client.md, "Live
   * presence"); it is set again after every resubscribe, so it survives reconnects.
   */
  async updatePresence(info: unknown): Promise<void> {
    this.info = { value: info };
    await this.ready; // the server must know the subscription first
    await this.requests.update(info);
  }

  unsubscribe(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.leave();
  }

  /** @internal True when this subscription excludes the client's own publications. */
  get excludesSelf(): boolean {
    return this.options.exclude === 'self';
  }

  /**
   * @internal An own publication excluded from delivery: the server skips it
   * on this connection, but a replay after a reconnect comes to a new
   * connection it cannot tie to this one, so it is skipped here too.
   */
  own(offset: number): void {
    if (this.position && offset <= this.position.offset) return;
    this.ownOffsets.add(offset);
  }

  /** @internal The subscribe frame for the next (re)connect. */
  subscribeFrame(): SubscribeRequest {
    this.askedSince = this.position ?? undefined;
    const frame: SubscribeRequest = { type: 'subscribe', channel: this.channel };
    if (this.askedSince) frame.since = this.askedSince;
    // Rewind is for the first subscribe only: after it the position says where to go on from.
    else if (this.options.rewind && !this.rewound) frame.rewind = this.options.rewind;
    if (this.options.exclude) frame.exclude = this.options.exclude;
    if (this.options.delta) {
      frame.delta = this.options.delta;
      this.deltaBase = this.options.deltaBase!();
    }
    return frame;
  }

  /** @internal */
  subscribed(result: SubscribeResult): void {
    const asked = this.askedSince;
    const again = this.rewound;
    this.rewound = true;
    if (result.epoch === null || result.offset === null) {
      this.position = null;
    } else if (asked && result.recovered) {
      // Missed publications follow the reply: keep our offset so they are delivered.
      this.position = { epoch: result.epoch, offset: asked.offset };
    } else {
      this.position = { epoch: result.epoch, offset: result.offset };
    }
    this.settleReady(null, result);
    // A resubscribe starts from the hook's info again: put ours back before the snapshot is read.
    if (this.info && again) {
      const restored = this.requests.update(this.info.value).catch(() => {});
      void restored.then(() => this.tracker?.sync());
    } else this.tracker?.sync();
    this.emit('subscribed', result);
    if (asked && !result.recovered) this.emit('reset', result);
  }

  /** @internal */
  refused(error: SwitchboardError): void {
    this.active = false;
    this.settleReady(error);
    this.emit('error', error);
  }

  /** @internal The client closed: the subscription ends; a `ready` still pending rejects. */
  ended(error: SwitchboardError): void {
    this.active = false;
    this.settleReady(error); // no effect once ready has settled
  }

  /** @internal */
  message(frame: MessageFrame): void {
    if (!this.active) return;
    if (this.deltaBase) {
      // Every frame moves the base, delivered or not: the server deltas from what it sent.
      try {
        frame = { ...frame, payload: this.deltaBase.read(frame) };
        delete frame.delta;
      } catch {
        this.deltaBase = null;
        this.options.broken?.();
        return;
      }
    }
    const before = this.position?.offset;
    if (frame.offset !== undefined && this.position) {
      if (frame.offset <= this.position.offset) return; // already delivered
      this.position = { epoch: this.position.epoch, offset: frame.offset };
      if (this.ownOffsets.size > 0) {
        const own = this.ownOffsets.has(frame.offset);
        for (const offset of this.ownOffsets) if (offset <= frame.offset) this.ownOffsets.delete(offset);
        if (own) return; // excluded; the position still moves past it
      }
    }
    // Replayed after a reconnect: sent by one of this client's earlier connections.
    if (this.options.exclude === 'self' && frame.from && this.isOwnClient(frame.from.client)) return;
    if (frame.skipped) {
      const skipped: Skipped = { count: frame.skipped };
      if (frame.offset !== undefined && before !== undefined) Object.assign(skipped, { from: before + 1, to: frame.offset - 1 });
      this.emit('skipped', skipped);
    }
    for (const handler of this.handlers) handler(frame.payload as P, frame);
  }

  /** @internal The server ended it. */
  endedByServer(): void {
    this.active = false;
    this.emit('unsubscribed', { channel: this.channel });
  }

  /** @internal */
  presenceEvent(kind: PresenceKind, entry: PresenceEntry): void {
    if (!this.active) return;
    this.tracker?.apply(kind, entry);
    this.emit(kind, entry);
  }
}
