// What happens to connections and subscriptions, told to the server's own
// listeners after the fact (webhooks, the per-user connection limit): unlike
// hooks, which decide, these only hear. `connected` alone may refuse (its
// rejection closes the connection as a refused connect hook would).
import type { PresenceEntry } from '../../protocol/frames.js';
import type { ClientContext } from './hooks.js';

export interface Lifecycle {
  /** After the connect hooks, before the welcome. Every connection it was told of is later told to `disconnected`. */
  connected(client: ClientContext): Promise<void>;
  disconnected(client: ClientContext, code: number, reason: string): Promise<void>;
  /** A subscription is live (`presence`: the namespace tracks presence, so the client shows in it with `info`). */
  subscribed(client: ClientContext, channel: string, info: unknown, presence: boolean): Promise<void>;
  /** A live subscription ended (unsubscribe, disconnect, or the server's own unsubscribe). */
  unsubscribed(client: ClientContext, channel: string, info: unknown, presence: boolean): Promise<void>;
  /** Presence entries of a dead node, taken out by this node (docs/scaling.md, "Nodes and ghosts"). */
  orphaned(channel: string, entries: PresenceEntry[]): Promise<void>;
}
