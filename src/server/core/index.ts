// The only way into the core (a test fails on any other): the connection door
// (Core: open, message, pong, closed, start, announce, stop, drain), the
// Operations it hands out, and the types that cross the door.
export { Core, type Connection, type CoreDeps, type OpenParams } from './core.js';
export { LEASE_LIST_SIZE, type ConnectionSnapshot, type CoreTelemetry, type Operations } from './operations.js';
export type {
  Authenticated,
  AuthenticateHook,
  ClientContext,
  ConnectHook,
  DisconnectHook,
  HookPlace,
  Hooks,
  PresenceUpdateHook,
  PublishHook,
  Refreshed,
  SubscribeHook,
} from './hooks.js';
export { DisconnectError } from './hooks.js';
export type { Target } from './control.js';
export type { Lifecycle } from './lifecycle.js';
export type { Mailbox } from './mailbox.js';
export type { RpcHandler, RpcObserver } from './rpc.js';
export type { SchemaOutput, StandardSchema } from './standard-schema.js';
export type { SharedFrame, Transport } from './transport.js';
export type { Tally, Traffic } from '../tally.js';
export type { BrokerObserver } from './timed-broker.js';
