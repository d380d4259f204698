// The `switchboard` package entry: the server library.
export { createServer, SwitchboardServer, type HttpServerOptions, type ServerOptions } from './server.js';
export type {
  Authenticated,
  AuthenticateHook,
  ClientContext,
  ConnectHook,
  ConnectionSnapshot,
  DisconnectHook,
  HookPlace,
  Hooks,
  Operations,
  PresenceUpdateHook,
  PublishHook,
  Refreshed,
  RpcHandler,
  StandardSchema,
  SubscribeHook,
  Target,
} from './core/index.js';
export type { ChannelCount, ClusterStats, DisconnectRecord, MessageCounts, NodeStats } from '../protocol/stats.js';
export { parseConfig, ConfigError, type Config, type ConfigInput, type NamespaceConfig } from './config.js';
export type { Broker, ChannelEvent, HistoryPage, HistoryPolicy, HistoryQuery, NodeLease, NodeRecord, OrphanHandler, Publication } from '../brokers/broker.js';
export { MemoryBroker, type MemoryBrokerOptions } from '../brokers/memory.js';
export { SwitchboardError, CloseCode, type ErrorCode } from '../protocol/codes.js';
export { DisconnectError } from './core/index.js';
export { signHeaders } from './signing.js';
export * from '../protocol/frames.js';
export type * from '../protocol/schema.js';
