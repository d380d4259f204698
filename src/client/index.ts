// `switchboard/client` for browsers: uses the browser's own WebSocket.
export { connect, SwitchboardClient, CLIENT_DEFAULTS } from './client.js';
export type { ClientOptions, ClientState, ClientEvents, StateChange, TransportName, WebSocketLike, WebSocketConstructor } from './client.js';
export { Subscription, type MessageHandler, type SubscriptionEvents, type SubscribeOptions, type Skipped } from './subscription.js';
export type { RequestOptions, PublishOptions } from './requests.js';
export type { TokenSource } from './token.js';
export { SwitchboardError, CloseCode, closeAdvice, type ErrorCode } from '../protocol/codes.js';
export { jsonCodec, type Codec } from '../protocol/codec.js';
export type * from '../protocol/frames.js';
export type * from '../protocol/schema.js';
