// One channel subscription on the client: it remembers the last position seen,
// resubscribes with it after every reconnect, drops duplicates by offset, and
// tells the application when the server could not recover what was missed.
import type { SwitchboardError } from '../protocol/codes.js';
import type { MessageFrame, PresenceEntry, StreamPosition, SubscribeResult } from '../protocol/frames.js';
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
  /** The server refused the subscription; it is over. */
  error: SwitchboardError;
  /** The server ended this subscription (docs/protocol.md "Server-side subscriptions"). */
  unsubscribed: { channel: string };
}

export type MessageHandler<P> = (payload: P, message: MessageFrame) => void;

export class Subscription<P = unknown> extends Emitter<SubscriptionEvents> {
  /** Last position delivered to the handler (null on channels without history). */
  position: StreamPosition | null = null;
  active = true;
  /** Resolves on the first successful reply, rejects if the server refuses. */
  readonly ready: Promise<SubscribeResult>;
  private settleReady!: (error: SwitchboardError | null, result?: SubscribeResult) => void;
  /** The `since` sent with the subscribe in flight, if any. */
  private askedSince: StreamPosition | undefined;

  private readonly handlers = new Set<MessageHandler<P>>();

  constructor(
    readonly channel: string,
    handler: MessageHandler<P> | null,
    private readonly leave: () => Promise<void>,
    /** True when the server subscribed this connection, not the application. */
    readonly byServer = false,
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

  unsubscribe(): Promise<void> {
    if (!this.active) return Promise.resolve();
    this.active = false;
    return this.leave();
  }

  /** @internal The subscribe frame for the next (re)connect. */
  subscribeFrame(): { type: 'subscribe'; channel: string; since?: StreamPosition } {
    this.askedSince = this.position ?? undefined;
    return this.askedSince ? { type: 'subscribe', channel: this.channel, since: this.askedSince } : { type: 'subscribe', channel: this.channel };
  }

  /** @internal */
  subscribed(result: SubscribeResult): void {
    const asked = this.askedSince;
    if (result.epoch === null || result.offset === null) {
      this.position = null;
    } else if (asked && result.recovered) {
      // Missed publications follow the reply: keep our offset so they are delivered.
      this.position = { epoch: result.epoch, offset: asked.offset };
    } else {
      this.position = { epoch: result.epoch, offset: result.offset };
    }
    this.settleReady(null, result);
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
    if (frame.offset !== undefined && this.position) {
      if (frame.offset <= this.position.offset) return; // already delivered
      this.position = { epoch: this.position.epoch, offset: frame.offset };
    }
    for (const handler of this.handlers) handler(frame.payload as P, frame);
  }

  /** @internal The server ended it. */
  endedByServer(): void {
    this.active = false;
    this.emit('unsubscribed', { channel: this.channel });
  }

  /** @internal */
  presence(kind: 'join' | 'leave', entry: PresenceEntry): void {
    if (this.active) this.emit(kind, entry);
  }
}
