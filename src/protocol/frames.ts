// The frames that cross the wire (docs/protocol.md, "Frames", "Channels", "History and recovery").
import type { ErrorCode } from './codes.js';

export const SUBPROTOCOL_JSON = 'switchboard.v1.json';
export const SUBPROTOCOL_MSGPACK = 'switchboard.v1.msgpack';

export type RequestId = number | string;

/** A position in a channel's history. */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

// ---- client -> server ----

interface Request<T extends string> {
  type: T;
  id?: RequestId;
}

export interface SubscribeRequest extends Request<'subscribe'> {
  channel: string;
  since?: StreamPosition;
  /** 'self': this connection's own publications are not sent to it (they still advance its position). */
  exclude?: 'self';
}
export interface UnsubscribeRequest extends Request<'unsubscribe'> {
  channel: string;
}
export interface PublishRequest extends Request<'publish'> {
  channel: string;
  payload: unknown;
  /** Up to 64 characters: a repeat on the same channel within the server's idempotencyWindow is answered with the first offset, not stored again. */
  idempotencyKey?: string;
  /** 'self': not sent to the publishing connection. */
  exclude?: 'self';
}
export interface RpcRequest extends Request<'rpc'> {
  method: string;
  payload?: unknown;
}
export interface PresenceRequest extends Request<'presence'> {
  channel: string;
}
/** Publications a history request without a `limit` returns (docs/protocol.md, "History and recovery"). */
export const DEFAULT_HISTORY_LIMIT = 100;

export interface HistoryRequest extends Request<'history'> {
  channel: string;
  /** DEFAULT_HISTORY_LIMIT when absent. */
  limit?: number;
  since?: StreamPosition;
}
export interface RefreshRequest extends Request<'refresh'> {
  token: string;
}
export type PingRequest = Request<'ping'>;

export type ClientFrame =
  | SubscribeRequest
  | UnsubscribeRequest
  | PublishRequest
  | RpcRequest
  | PresenceRequest
  | HistoryRequest
  | RefreshRequest
  | PingRequest;

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
}

export interface JoinLeaveFrame {
  type: 'join' | 'leave';
  channel: string;
  payload: PresenceEntry;
}

export type ReplyFrame =
  | { type: 'reply'; id: RequestId; ok: true; payload: unknown }
  | { type: 'reply'; id: RequestId; ok: false; error: ErrorBody };

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
  | WelcomeFrame
  | MessageFrame
  | JoinLeaveFrame
  | ReplyFrame
  | ErrorFrame
  | PongFrame
  | SubscribedFrame
  | UnsubscribedFrame;

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
