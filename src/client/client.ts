// The Switchboard client: one connection at a time (a WebSocket, or HTTP streaming where none opens), reconnected with jittered
// backoff as the close code advises, subscriptions resubscribed and recovered,
// requests queued while offline, tokens fetched before each connect and
// refreshed before expiry. Browser-safe: no Node built-ins.
import { fitCloseReason, retryInOf } from '../protocol/close-reason.js';
import { closeAdvice, CloseCode, SwitchboardError } from '../protocol/codes.js';
import { jsonCodec, type Codec } from '../protocol/codec.js';
import { canCarryToken, tokenSubprotocol } from '../protocol/token-subprotocol.js';
import type {
  SubscribedFrame,
  ClientFrame,
  HistoryResult,
  PresenceResult,
  PublishResult,
  ServerFrame,
  StreamPosition,
  WelcomeFrame,
} from '../protocol/frames.js';
import type { AnySchema, AppSchema, ChannelName, ChannelPayload, MethodName, RpcInput, RpcOutput } from '../protocol/schema.js';
import { fullJitter } from './backoff.js';
import { Emitter } from './emitter.js';
import { ClientHeartbeat } from './heartbeat.js';
import { HttpStreamSocket, streamUrl } from './http-stream.js';
import { idempotencyKeys } from './idempotency.js';
import { Requests, type PublishOptions, type RequestOptions } from './requests.js';
import { Subscription, type MessageHandler, type PresenceRequests, type SubscribeOptions } from './subscription.js';
import { DeltaBase, type DeltaDecoder } from './delta-base.js';
import { expiryOf, resolveToken, type TokenSource } from './token.js';

/** A subscription of any payload type (handlers are contravariant in it). */
// Subscriptions of every payload type, in one map.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- unknown does not admit Subscription<T>: its handlers take a T
type AnySubscription = Subscription<any>;

/**
 * A handler the client assigns. Method syntax makes its parameter bivariant:
 * the DOM's and ws's handlers take their own, wider event types, and the
 * client only ever reads the fields named here.
 */
type Handler<E> = { handle(event: E): void }['handle'];

/** The part of the WebSocket API the client uses: the browser's, `ws`'s, or any standard one. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onmessage: Handler<{ data: unknown }> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
  onerror: Handler<unknown> | null;
}
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export type ClientState = 'connecting' | 'connected' | 'disconnected' | 'closed';

/** How the client reaches the server (docs/client.md, "Transports"). */
export type TransportName = 'websocket' | 'http-stream';

/** Every option with its default. */
export const CLIENT_DEFAULTS = {
  /** Reconnect: first delay ceiling, largest ceiling, and how long a connection must last to reset the backoff. */
  reconnect: { initialDelay: 500, maxDelay: 20_000, stableAfter: 10_000 },
  /** Offline queue bounds for publish, rpc, presence and history. */
  queue: { maxCount: 1_000, maxBytes: 1_048_576 },
  /** Default request timeout, ms. */
  timeout: 10_000,
  /** A publish's own deadline, ms: until then it waits through reconnects and is resent with its key. */
  publishTimeout: 30_000,
  /** An attempt without a welcome frame after this long is abandoned and retried, ms. */
  connectTimeout: 10_000,
  /** Refresh the token this many seconds before its exp (at most half its remaining life). */
  refreshMargin: 30,
};

/** Options of both builds; Node's adds `headers` (a browser's WebSocket cannot send any). */
export interface ClientOptions {
  /** A token, or a function called before each connect and before expiry. */
  token?: TokenSource;
  /** The frame codec: JSON by default, or `msgpack` from `switchboard/client/msgpack`. */
  codec?: Codec;
  /** Applies deltas for subscriptions with `{ delta: 'fossil' }`: `fossil` from `switchboard/client/delta`. */
  delta?: DeltaDecoder;
  /** The WebSocket implementation; the browser's by default (`ws` in Node). */
  WebSocket?: WebSocketConstructor;
  /** Tried in order on each connect until one opens; default `['websocket', 'http-stream']` (HTTP streaming speaks JSON only). */
  transports?: TransportName[];
  /** @internal Headers for HTTP streaming's requests: Node's `connect` sets them from its `headers` option. */
  streamHeaders?: () => Record<string, string>;
  /** false: never reconnect. */
  reconnect?: Partial<typeof CLIENT_DEFAULTS.reconnect> | false;
  /** Override the heartbeat the server announces in its welcome. */
  heartbeat?: { interval?: number; timeout?: number };
  queue?: Partial<typeof CLIENT_DEFAULTS.queue>;
  timeout?: number;
  /** ms a publish may wait (queued offline, resent after a restart) before it rejects with `timeout`; default 30,000. */
  publishTimeout?: number;
  connectTimeout?: number;
  refreshMargin?: number;
}

export interface StateChange {
  state: ClientState;
  /** Close code and reason, on disconnected and closed. */
  code?: number;
  reason?: string;
  /** On disconnected: whether the client will try again, and after how many ms. */
  willRetry?: boolean;
  delay?: number;
}

export interface ClientEvents {
  state: StateChange;
  connecting: StateChange;
  connected: WelcomeFrame['payload'];
  disconnected: StateChange;
  closed: StateChange;
  /** Failures not tied to a request: error frames, token refresh failures. */
  error: SwitchboardError;
  /** The server subscribed this client to a channel it did not ask for; attach handlers with `onMessage`. */
  subscription: AnySubscription;
  /** On every connect: the transport it went through. */
  transport: TransportName;
}

export class SwitchboardClient<S extends AppSchema = AnySchema> extends Emitter<ClientEvents> {
  state: ClientState = 'connecting';
  /** From the last welcome. */
  session: WelcomeFrame['payload'] | null = null;
  /** The transport of the current (or last) connection; null before the first. */
  transport: TransportName | null = null;
  private socket: WebSocketLike | null = null;
  private readonly codec: Codec;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly transports: TransportName[];
  /** The transport this attempt uses, in `transports`. */
  private transportIndex = 0;
  private readonly requests: Requests;
  private readonly subscriptions = new Map<string, AnySubscription>();
  /** Replies to subscribe frames in flight on the current socket. */
  private readonly control = new Map<number, (frame: ServerFrame) => void>();
  private nextId = 1;
  private attempt = 0;
  private connectedAt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeat: ClientHeartbeat | null = null;
  private token: string | null = null;
  private readonly reconnect: typeof CLIENT_DEFAULTS.reconnect | false;
  /** A WebSocket has been greeted on this network: a failed attempt now is the server's trouble, not the network's. */
  private websocketWorked = false;
  private readonly onOnline = () => {
    this.websocketWorked = false; // perhaps another network
    this.reconnectNow();
  };
  /** A fresh idempotency key per publish: a random prefix for this client and a counter. */
  private readonly nextKey = idempotencyKeys();
  private retryAttempt = 0;
  /**
   * Resubscribes sent at this connection's welcome and not answered yet. Until
   * they are, requests wait in the queue: a publish queued offline on a
   * channel whose namespace wants subscribers must find its subscription back.
   */
  private resubscribing = 0;
  /** Client ids of this client's recent connections, to recognise its own publications in replays. */
  private readonly ownClients: string[] = [];
  private retryPublishTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly url: string,
    private readonly options: ClientOptions = {},
  ) {
    super();
    this.codec = options.codec ?? jsonCodec;
    const impl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!impl) throw new Error('no WebSocket implementation: pass options.WebSocket');
    this.WebSocketImpl = impl;
    // HTTP streaming carries JSON lines: a binary codec keeps to WebSockets.
    const transports = (options.transports ?? ['websocket', 'http-stream']).filter((t) => t === 'websocket' || !this.codec.binary);
    this.transports = transports.length > 0 ? transports : ['websocket'];
    this.reconnect = options.reconnect === false ? false : { ...CLIENT_DEFAULTS.reconnect, ...options.reconnect };
    this.requests = new Requests({ ...CLIENT_DEFAULTS.queue, ...options.queue }, () => this.retryPublishes());
    (globalThis as { addEventListener?: (type: string, fn: () => void) => void }).addEventListener?.('online', this.onOnline);
    void this.open();
  }

  /**
   * Subscribe; resubscribed with the last position after every reconnect.
   * Subscribing again to a channel returns the existing subscription, with
   * `handler` added to it (its options stay those of the first subscribe).
   */
  subscribe<C extends ChannelName<S>>(
    channel: C,
    handler: MessageHandler<ChannelPayload<S, C>>,
    options: SubscribeOptions = {},
  ): Subscription<ChannelPayload<S, C>> {
    if (this.state === 'closed') throw new SwitchboardError('unavailable', 'client is closed');
    const existing = this.getSubscription(channel);
    if (existing) {
      existing.onMessage(handler);
      return existing;
    }
    if (options.delta && this.options.delta?.name !== options.delta) {
      throw new SwitchboardError('bad_request', `{ delta: '${options.delta}' } needs the client option delta (fossil from switchboard/client/delta)`);
    }
    const subscription: Subscription<ChannelPayload<S, C>> = new Subscription(
      channel,
      handler,
      () => this.unsubscribe(subscription),
      options.delta
        ? { ...options, deltaBase: () => new DeltaBase(this.codec, this.options.delta!), broken: () => this.dropDead('a delta did not apply') }
        : options,
      (client) => this.ownClients.includes(client),
      false,
      this.presenceRequests(channel),
    );
    this.subscriptions.set(channel, subscription);
    if (this.state === 'connected') this.sendSubscribe(subscription);
    return subscription;
  }

  /** The subscription to `channel` (the application's or the server's), if any. */
  getSubscription<C extends ChannelName<S>>(channel: C): Subscription<ChannelPayload<S, C>> | undefined {
    return this.subscriptions.get(channel) as Subscription<ChannelPayload<S, C>> | undefined;
  }

  /**
   * Publish with an idempotency key: resolves once stored exactly once; if the
   * connection drops first it is sent again after reconnecting (docs/client.md,
   * "Exactly once from the sender").
   */
  async publish<C extends ChannelName<S>>(channel: C, payload: ChannelPayload<S, C>, options: PublishOptions = {}): Promise<PublishResult> {
    const { idempotencyKey = this.nextKey(), exclude, ...rest } = options;
    const frame: ClientFrame = exclude ? { type: 'publish', channel, payload, idempotencyKey, exclude } : { type: 'publish', channel, payload, idempotencyKey };
    const timeout = rest.timeout ?? this.options.publishTimeout ?? CLIENT_DEFAULTS.publishTimeout;
    const result = (await this.request(frame, { ...rest, timeout, idempotent: true })) as PublishResult;
    // Replays after a reconnect come from a new connection the server cannot tie to this one: skip them here.
    const subscription = this.subscriptions.get(channel);
    if (result.offset !== null && subscription && (exclude === 'self' || subscription.excludesSelf)) subscription.own(result.offset);
    return result;
  }

  rpc<M extends MethodName<S>>(method: M, payload: RpcInput<S, M>, options?: RequestOptions): Promise<RpcOutput<S, M>> {
    return this.request({ type: 'rpc', method, payload: payload ?? null }, options) as Promise<RpcOutput<S, M>>;
  }

  presence(channel: ChannelName<S>, options?: RequestOptions): Promise<PresenceResult> {
    return this.request({ type: 'presence', channel }, options) as Promise<PresenceResult>;
  }

  /** What a subscription to `channel` asks about its presence (the live set, its own info). */
  private presenceRequests(channel: ChannelName<S>): PresenceRequests {
    return {
      presence: () => this.presence(channel),
      update: (info) => this.request({ type: 'presence_update', channel, info: info ?? null }),
    };
  }

  history<C extends ChannelName<S>>(
    channel: C,
    query: { limit?: number; since?: StreamPosition } = {},
    options?: RequestOptions,
  ): Promise<HistoryResult<ChannelPayload<S, C>>> {
    return this.request({ type: 'history', channel, ...query }, options) as Promise<HistoryResult<ChannelPayload<S, C>>>;
  }

  /** Close for good: no reconnect; pending and queued requests reject. */
  close(code: number = CloseCode.Normal, reason = 'client closed'): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    const socket = this.detach();
    // A browser's WebSocket throws for a reason over 123 bytes, as ws does.
    socket?.close(code, fitCloseReason(reason));
    this.finish(code, reason);
  }

  /** Reconnect now instead of waiting for the backoff (also done on the browser's `online` event). */
  reconnectNow(): void {
    if (this.state !== 'disconnected') return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.open();
  }

  private request(frame: ClientFrame, options: RequestOptions & { idempotent?: boolean } = {}): Promise<unknown> {
    if (this.state === 'closed') return Promise.reject(new SwitchboardError('unavailable', 'client is closed'));
    const id = this.nextId++;
    const data = this.codec.encode({ ...frame, id });
    const timeout = options.timeout ?? this.options.timeout ?? CLIENT_DEFAULTS.timeout;
    return this.requests.add(id, data, this.live, (d) => this.send(d), { ...options, timeout });
  }

  /** Publishes answered `unavailable` wait in the queue: send them again after a jittered pause, or on the next welcome. */
  private retryPublishes(): void {
    if (this.retryPublishTimer !== null) return;
    const delay = fullJitter(this.retryAttempt++, { initialDelay: 100, maxDelay: 5_000 });
    this.retryPublishTimer = setTimeout(() => {
      this.retryPublishTimer = null;
      if (this.live && this.requests.waiting) this.requests.flush((d) => this.send(d));
    }, delay);
  }

  private async open(): Promise<void> {
    this.setState({ state: 'connecting' });
    let token: string | null;
    try {
      // A fresh token before every attempt: a refused one cannot be told apart from a network error.
      token = await resolveToken(this.options.token);
    } catch (error) {
      this.emit('error', new SwitchboardError('unauthorized', `getting a token failed: ${String(error)}`));
      this.lost(CloseCode.InternalError, 'token unavailable');
      return;
    }
    if (this.state !== 'connecting') return; // closed meanwhile
    const http = this.transports[this.transportIndex] === 'http-stream';
    if (token && !http && !canCarryToken(token)) {
      // Never fall back to the URL, where proxies log it (docs/protocol.md, "Connecting"); HTTP streaming sends a header.
      this.emit('error', new SwitchboardError('bad_request', 'the token has characters a Sec-WebSocket-Protocol entry cannot carry (a JWT never does)'));
      this.lost(CloseCode.InternalError, 'token cannot be sent');
      return;
    }
    this.token = token;
    // The token rides in Sec-WebSocket-Protocol beside the codec, never in the
    // URL; the server only ever selects the codec.
    const protocols = token ? [this.codec.subprotocol, tokenSubprotocol(token)] : [this.codec.subprotocol];
    let socket: WebSocketLike;
    try {
      socket = http ? new HttpStreamSocket(streamUrl(this.url), token, this.options.streamHeaders?.()) : new this.WebSocketImpl(this.url, protocols);
    } catch (error) {
      // A malformed URL: trying again will not help.
      this.emit('error', new SwitchboardError('bad_request', `cannot open ${this.url}: ${String(error)}`));
      this.finish(1006, 'cannot open a WebSocket to this URL');
      return;
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    // A server that accepts the connection but never greets it is as good as dead.
    const connectTimeout = this.options.connectTimeout ?? CLIENT_DEFAULTS.connectTimeout;
    this.connectTimer = setTimeout(() => socket === this.socket && this.dropDead('no welcome in time'), connectTimeout);
    // Events of a socket this client has replaced are ignored.
    socket.onmessage = (event) => socket === this.socket && this.receive(event.data);
    socket.onclose = (event) => socket === this.socket && this.lost(event.code, event.reason);
    socket.onerror = () => {};
  }

  private receive(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = this.codec.decode(typeof data === 'string' ? data : new Uint8Array(data as ArrayBuffer)) as ServerFrame;
    } catch {
      this.emit('error', new SwitchboardError('bad_request', 'undecodable frame from the server'));
      return;
    }
    this.heartbeat?.received();
    switch (frame.type) {
      case 'welcome':
        this.welcome(frame);
        return;
      case 'message':
        this.subscriptions.get(frame.channel)?.message(frame);
        return;
      case 'join':
      case 'leave':
        this.subscriptions.get(frame.channel)?.presenceEvent(frame.type, frame.payload);
        return;
      case 'presence_update':
        this.subscriptions.get(frame.channel)?.presenceEvent('update', frame.payload);
        return;
      case 'reply': {
        const handler = this.control.get(frame.id as number);
        if (handler) {
          this.control.delete(frame.id as number);
          handler(frame);
        } else this.requests.reply(frame);
        return;
      }
      case 'error':
        this.emit('error', new SwitchboardError(frame.error.code, frame.error.message));
        return;
      case 'pong':
        return;
      case 'subscribed':
        this.subscribedByServer(frame);
        return;
      case 'unsubscribed': {
        const subscription = this.subscriptions.get(frame.channel);
        this.subscriptions.delete(frame.channel);
        subscription?.endedByServer();
        return;
      }
    }
  }

  /** The server put this connection on a channel: a subscription like any other from now on (resubscribed after reconnects). */
  private subscribedByServer(frame: SubscribedFrame): void {
    const { type: _type, ...result } = frame;
    let subscription = this.subscriptions.get(frame.channel);
    if (!subscription) {
      const created: AnySubscription = new Subscription(
        frame.channel,
        null,
        () => this.unsubscribe(created),
        {},
        (client) => this.ownClients.includes(client),
        true,
        this.presenceRequests(frame.channel as ChannelName<S>),
      );
      subscription = created;
      this.subscriptions.set(frame.channel, created);
      subscription.subscribeFrame();
      this.emit('subscription', created);
    }
    subscription.subscribed(result);
  }

  private welcome(frame: WelcomeFrame): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.session = frame.payload;
    this.connectedAt = Date.now();
    this.transport = this.transports[this.transportIndex]!;
    if (this.transport === 'websocket') this.websocketWorked = true;
    this.requests.window = frame.payload.limits.idempotencyWindow ?? null;
    this.ownClients.push(frame.payload.client);
    if (this.ownClients.length > 32) this.ownClients.shift();
    this.retryAttempt = 0;
    const interval = this.options.heartbeat?.interval ?? frame.payload.heartbeat.interval;
    const timeout = this.options.heartbeat?.timeout ?? frame.payload.heartbeat.timeout;
    this.heartbeat = new ClientHeartbeat(
      interval,
      timeout,
      () => this.send(this.codec.encode({ type: 'ping' })),
      () => this.dropDead('heartbeat timeout'),
    );
    this.heartbeat.start();
    this.setState({ state: 'connected' });
    this.emit('transport', this.transport);
    this.emit('connected', frame.payload);
    this.resubscribing = this.subscriptions.size;
    for (const subscription of this.subscriptions.values()) {
      this.sendSubscribe(subscription, () => {
        if (--this.resubscribing === 0) this.requests.flush((d) => this.send(d));
      });
    }
    if (this.resubscribing === 0) this.requests.flush((d) => this.send(d));
    this.scheduleRefresh();
  }

  /** Connected, and every resubscribe of the welcome answered: requests go out at once. */
  private get live(): boolean {
    return this.state === 'connected' && this.resubscribing === 0;
  }

  private sendSubscribe(subscription: AnySubscription, answered?: () => void): void {
    const id = this.nextId++;
    this.control.set(id, (frame) => {
      if (frame.type === 'reply') answered?.();
      if (frame.type !== 'reply' || !subscription.active) return;
      if (frame.ok) subscription.subscribed(frame.payload as never);
      else {
        this.subscriptions.delete(subscription.channel);
        subscription.refused(new SwitchboardError(frame.error.code, frame.error.message));
      }
    });
    this.send(this.codec.encode({ ...subscription.subscribeFrame(), id }));
  }

  private async unsubscribe(subscription: AnySubscription): Promise<void> {
    if (this.subscriptions.get(subscription.channel) !== subscription) return;
    this.subscriptions.delete(subscription.channel);
    if (this.state !== 'connected') return; // nothing to undo on the server
    try {
      await this.request({ type: 'unsubscribe', channel: subscription.channel });
    } catch (error) {
      // not_subscribed: a subscribe still in flight was refused; nothing to undo.
      if (!(error instanceof SwitchboardError && error.code === 'not_subscribed')) throw error;
    }
  }

  private send(data: string | Uint8Array): void {
    this.socket?.send(data);
  }

  /** The server went silent (no welcome, or no frame within the heartbeat): dead, even if TCP does not know yet. */
  private dropDead(reason: string): void {
    const socket = this.detach();
    const terminate = (socket as { terminate?: () => void } | null)?.terminate;
    if (terminate) terminate.call(socket);
    else socket?.close(CloseCode.Reconnect, reason);
    this.lost(1006, reason);
  }

  /** The socket is gone: decide whether and when to reconnect. */
  private lost(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.detach();
    this.stopTimers();
    this.requests.failSent(new SwitchboardError('unavailable', 'connection lost before the reply'));
    const advice = closeAdvice(code);
    // 1012/1013: the node restarts or is busy, and says when to come back; no failure, and no reason to change transport.
    const busy = code === CloseCode.ServiceRestart || code === CloseCode.TryAgainLater;
    const retryIn = busy ? retryInOf(reason) : null;
    // Not even greeted, on a network where no WebSocket has worked yet: the next transport is tried at once.
    // Otherwise (or when none is left) the first again: a node down or restarting is no reason to change transport.
    const next = !busy && !this.websocketWorked && this.connectedAt === 0 && advice !== 'stop' && this.transportIndex + 1 < this.transports.length;
    this.transportIndex = next ? this.transportIndex + 1 : 0;
    if (!next && (this.reconnect === false || advice === 'stop')) {
      this.finish(code, reason);
      return;
    }
    if (this.reconnect && this.connectedAt && Date.now() - this.connectedAt >= this.reconnect.stableAfter) this.attempt = 0;
    this.connectedAt = 0;
    // After 4001 the next attempt fetches a fresh token: no need to wait. A retry hint is waited out, plus
    // jitter that never takes the wait past maxDelay (the server's hint already spreads its clients).
    const delay =
      advice === 'refresh-token' || next || !this.reconnect
        ? 0
        : retryIn !== null
          ? retryIn + Math.floor(Math.random() * Math.min(this.reconnect.initialDelay, Math.max(0, this.reconnect.maxDelay - retryIn)))
          : fullJitter(this.attempt++, this.reconnect);
    this.setState({ state: 'disconnected', code, reason, willRetry: true, delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, delay);
  }

  private finish(code: number, reason: string): void {
    const closed = new SwitchboardError('unavailable', 'client is closed');
    this.requests.failAll(closed);
    for (const subscription of this.subscriptions.values()) subscription.ended(closed);
    this.subscriptions.clear();
    (globalThis as { removeEventListener?: (type: string, fn: () => void) => void }).removeEventListener?.('online', this.onOnline);
    this.setState({ state: 'closed', code, reason, willRetry: false });
  }

  /** Forget the current socket so that its late events are ignored. */
  private detach(): WebSocketLike | null {
    const socket = this.socket;
    this.socket = null;
    this.control.clear();
    this.heartbeat?.stop();
    this.heartbeat = null;
    if (socket) socket.onmessage = socket.onclose = null;
    return socket;
  }

  private stopTimers(): void {
    for (const timer of [this.retryTimer, this.refreshTimer, this.connectTimer, this.retryPublishTimer]) if (timer !== null) clearTimeout(timer);
    this.retryTimer = this.refreshTimer = this.connectTimer = this.retryPublishTimer = null;
  }

  /** With a token function, get a new token before exp and hand it over with `refresh`. */
  private scheduleRefresh(): void {
    if (typeof this.options.token !== 'function' || !this.token) return;
    const exp = expiryOf(this.token);
    if (exp === null) return;
    const remaining = exp * 1000 - Date.now();
    const margin = Math.min((this.options.refreshMargin ?? CLIENT_DEFAULTS.refreshMargin) * 1000, remaining / 2);
    this.refreshTimer = setTimeout(() => void this.refresh(), Math.max(0, remaining - margin));
  }

  private async refresh(): Promise<void> {
    this.refreshTimer = null;
    try {
      const token = await resolveToken(this.options.token);
      if (!token || this.state !== 'connected') return;
      await this.request({ type: 'refresh', token });
      this.token = token;
      this.scheduleRefresh();
    } catch (error) {
      // The server will close with 4001 at exp; the reconnect gets a fresh token.
      this.emit('error', error instanceof SwitchboardError ? error : new SwitchboardError('unauthorized', String(error)));
    }
  }

  private setState(change: StateChange): void {
    this.state = change.state;
    this.emit('state', change);
    if (change.state !== 'connected') this.emit(change.state, change);
  }
}

/** Connect to a Switchboard server, e.g. `connect('wss://example.com/ws', { token: getToken })`. */
export function connect<S extends AppSchema = AnySchema>(url: string, options?: ClientOptions): SwitchboardClient<S> {
  return new SwitchboardClient<S>(url, options);
}
