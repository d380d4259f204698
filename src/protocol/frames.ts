// The frames that cross the wire (docs/protocol.md, "Frames", "Channels", "History and recovery").
import type { z } from 'zod';
import type { ErrorCode } from './codes.js';
import type { RequestType, requestSchemas, streamPosition } from './request-schemas.js';

export const SUBPROTOCOL_JSON = 'switchboard.v1.json';
export const SUBPROTOCOL_MSGPACK = 'switchboard.v1.msgpack';

export type RequestId = number | string;

/** A position in a channel's history. */
export type StreamPosition = z.infer<typeof streamPosition>;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

// ---- client -> server ----

/** A request of type `T`: its fields as the server's schema for it says (request-schemas.ts). */
type Request<T extends Exclude<RequestType, 'ping'>> = { type: T; id?: RequestId } & z.infer<(typeof requestSchemas)[T]>;

export type SubscribeRequest = Request<'subscribe'>;
export type UnsubscribeRequest = Request<'unsubscribe'>;
export type PublishRequest = Request<'publish'>;
export type RpcRequest = Request<'rpc'>;
export type PresenceRequest = Request<'presence'>;
export type PresenceUpdateRequest = Request<'presence_update'>;
/** Publications a history request without a `limit` returns (docs/protocol.md, "History and recovery"). */
export const DEFAULT_HISTORY_LIMIT = 100;

export type HistoryRequest = Request<'history'>;
export type RefreshRequest = Request<'refresh'>;
/** A ping has no fields of its own. */
export interface PingRequest {
  type: 'ping';
  id?: RequestId;
}

export type ClientFrame =
  SubscribeRequest | UnsubscribeRequest | PublishRequest | RpcRequest | PresenceRequest | PresenceUpdateRequest | HistoryRequest | RefreshRequest | PingRequest;

export type ClientFrameType = ClientFrame['type'];
/** Every client frame but `ping`, which the server answers before any request is queued. */
export type ClientRequest = Exclude<ClientFrame, PingRequest>;

// ---- server -> client ----

export interface ClientIdentity {
  client: string;
  user: string | null;
}

export interface PresenceEntry extends ClientIdentity {
  info: unknown;
}

export interface WelcomeFrame {
  type: 'welcome';
  payload: {
    client: string;
    user: string | null;
    server: string;
    heartbeat: { interval: number; timeout: number };
    limits: {
      maxPayload: number;
      rate: { messagesPerSecond: number; burst: number };
      /** ms an idempotency key is remembered: the SDK resends an unanswered publish only within it. */
      idempotencyWindow?: number;
    };
  };
}

export interface MessageFrame {
  type: 'message';
  channel: string;
  offset?: number;
  payload: unknown;
  from?: ClientIdentity;
  /**
   * Publications of this channel not sent to this client just before this one
   * (a slow client in a 'latest' namespace): offsets offset-skipped to offset-1.
   */
  skipped?: number;
  /** True when `payload` is the Fossil delta from this channel's previous message to this one (docs/protocol.md, "Delta compression"). */
  delta?: true;
}

export interface JoinLeaveFrame {
  type: 'join' | 'leave';
  channel: string;
  payload: PresenceEntry;
}

/** A subscriber changed its presence info (docs/protocol.md, "Presence updates"). */
export interface PresenceUpdateFrame {
  type: 'presence_update';
  channel: string;
  payload: PresenceEntry;
}

export type ReplyFrame = { type: 'reply'; id: RequestId; ok: true; payload: unknown } | { type: 'reply'; id: RequestId; ok: false; error: ErrorBody };

export interface ErrorFrame {
  type: 'error';
  id?: RequestId;
  error: ErrorBody;
}

export interface PongFrame {
  type: 'pong';
  id?: RequestId;
}

/** The server subscribed this connection to a channel (docs/protocol.md "Server-side subscriptions"). */
export interface SubscribedFrame extends SubscribeResult {
  type: 'subscribed';
}

/** The server ended this connection's subscription to a channel. */
export interface UnsubscribedFrame {
  type: 'unsubscribed';
  channel: string;
}

export type ServerFrame =
  WelcomeFrame | MessageFrame | JoinLeaveFrame | PresenceUpdateFrame | ReplyFrame | ErrorFrame | PongFrame | SubscribedFrame | UnsubscribedFrame;

// ---- reply payloads ----

export interface SubscribeResult {
  channel: string;
  /** null on channels without history */
  epoch: string | null;
  offset: number | null;
  recovered: boolean;
}

export interface PublishResult {
  offset: number | null;
}

export interface HistoryPublication<P = unknown> {
  offset: number;
  payload: P;
  from?: ClientIdentity;
}

export interface HistoryResult<P = unknown> {
  epoch: string | null;
  offset: number | null;
  publications: HistoryPublication<P>[];
  /** Present (true) when the reply was cut to the server's reply size limit; page on with `since`. */
  truncated?: true;
}

export interface PresenceResult {
  /** Empty where the namespace has `presence: 'count'`. */
  clients: PresenceEntry[];
  /** Present (true) when the list was cut to the server's reply size limit. */
  truncated?: true;
  /** Only where the namespace has `presence: 'count'`: connections, and distinct users (anonymous clients count as none). */
  count?: { clients: number; users: number };
}

export interface RefreshResult {
  expiresAt: number | null;
}
