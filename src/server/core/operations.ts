// What an application, the HTTP API, `serve`, the admin page and the tests may
// ask of the core, written once: publish, server-side subscribe, unsubscribe
// and disconnect on every node, presence, history, the node's and the
// cluster's figures, and registering hooks and RPC methods. Nothing else
// outside the core touches its parts.
import type { IncomingMessage } from 'node:http';
import type { Broker, Revocation } from '../../brokers/broker.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import { DEFAULT_HISTORY_LIMIT, type HistoryResult, type PresenceResult, type StreamPosition } from '../../protocol/frames.js';
import type { ChannelCount, ClusterStats, DisconnectRecord, MessageCounts, NodeStats } from '../../protocol/stats.js';
import type { Identity } from '../auth.js';
import type { Config } from '../config.js';
import type { LimitHits } from '../limit-hits.js';
import type { Control, Target } from './control.js';
import type { ClientContext, HookChain, HookPlace, Hooks } from './hooks.js';
import type { Hub, HubTallies } from './hub.js';
import type { Namespaces } from './namespaces.js';
import type { RecentDisconnects } from './recent-disconnects.js';
import type { RpcHandler, RpcObserver, RpcRegistry } from './rpc.js';
import type { Session } from './session.js';
import type { StandardSchema } from './standard-schema.js';
import type { Tally, Traffic } from '../tally.js';
import type { BrokerObserver } from './timed-broker.js';

/**
 * How many of its busiest channels and newest disconnects a node puts in its
 * lease, for the cluster views of /api/channels and /api/disconnects: enough
 * for a dashboard, small enough to rewrite every nodeTtl / 4.
 */
export const LEASE_LIST_SIZE = 20;

/** One connection of this node as it is now, for the admin view and the tests. */
export interface ConnectionSnapshot {
  client: string;
  user: string | null;
  ip: string;
  subprotocol: string;
  /** Channels subscribed (pending or live), each with whether a 'latest' publication is held for it. */
  subscriptions: Array<{ channel: string; holding: boolean }>;
  /** Bytes in the socket's queue. */
  queuedBytes: number;
  /** Bytes of 'latest' publications held outside the socket. */
  heldBytes: number;
}

/** The core's own figures, read by /metrics when scraped. */
export interface CoreTelemetry {
  readonly counters: Readonly<{ received: number; bytesIn: number; rateLimited: number; badRequests: number }>;
  readonly traffic: Readonly<Traffic>;
  readonly closes: Tally;
  readonly tallies: HubTallies;
  /** Open connections by subprotocol and transport. */
  readonly connections: Tally;
  /** Bytes queued for all connections at the last check (limits.outboundBytes). */
  outboundBytes(): number;
  channels(): number;
  subscriptions(): number;
  brokerOutages(): number;
  observeRpc(observer: RpcObserver): void;
  observeBroker(observer: BrokerObserver): void;
}

/** The parts of the core the operations work with; built by the core. */
export interface CoreParts {
  readonly nodeId: string;
  readonly config: Config;
  readonly broker: Broker;
  readonly hub: Hub;
  readonly namespaces: Namespaces;
  readonly control: Control;
  readonly rpc: RpcRegistry;
  readonly hooks: HookChain;
  readonly recentDisconnects: RecentDisconnects;
  readonly sessions: ReadonlyMap<string, Session>;
  readonly telemetry: CoreTelemetry;
  /** Where bounds hit are counted (limits.revocations). */
  readonly limitHits: LimitHits;
  /** What this node says about itself now. */
  stats(): NodeStats;
}

export class Operations {
  readonly nodeId: string;
  /** The core's figures for /metrics. */
  readonly telemetry: CoreTelemetry;

  constructor(private readonly parts: CoreParts) {
    this.nodeId = parts.nodeId;
    this.telemetry = parts.telemetry;
  }

  /** A publication by the server (the library or the HTTP API): allowed on every namespace, without a `from`. */
  publish(channel: string, payload: unknown, options: { idempotencyKey?: string } = {}): Promise<number | null> {
    const { hub, namespaces } = this.parts;
    return hub.publish(channel, payload, undefined, namespaces.resolve(channel), options);
  }

  /** The same payload on several channels; every channel is checked before anything is published. */
  async broadcast(channels: string[], payload: unknown): Promise<Record<string, number | null>> {
    for (const channel of channels) this.parts.namespaces.resolve(channel);
    const offsets: Record<string, number | null> = {};
    await Promise.all(
      channels.map(async (channel) => {
        offsets[channel] = await this.publish(channel, payload);
      }),
    );
    return offsets;
  }

  /** Subscribe a user's connections (or one client's) on every node; each gets a `subscribed` frame. How many. */
  subscribe(target: Target, channel: string): Promise<number> {
    this.parts.namespaces.resolve(channel);
    return this.parts.control.send({ op: 'subscribe', target, channel });
  }

  /** End a user's (or client's) subscription on every node; each gets an `unsubscribed` frame. How many. */
  unsubscribe(target: Target, channel: string): Promise<number> {
    return this.parts.control.send({ op: 'unsubscribe', target, channel });
  }

  /**
   * Set the presence info of a user's connections (or one client's) subscribed
   * to `channel`, on every node, as their own presence_update would. How many.
   */
  updatePresence(target: Target, channel: string, info: unknown): Promise<number> {
    this.parts.namespaces.resolve(channel);
    this.parts.hub.checkPresenceInfo(info);
    return this.parts.control.send({ op: 'presence_update', target, channel, info });
  }

  /** Close a user's connections (or one client's) on every node, with a 4000-4999 code (default 4003). How many. */
  disconnect(target: Target, code: number = CloseCode.Disconnected, reason = 'disconnected by the server'): Promise<number> {
    return this.parts.control.send({ op: 'disconnect', target, code, reason });
  }

  /**
   * Revoke tokens (docs/security.md, "Revoking tokens"): held cluster-wide
   * until `expiresAt` (seconds; default revocationTtl from now), so such
   * tokens are refused, and their connections closed with 4001 on every node.
   * How many were closed; `rate_limited` when limits.revocations are held.
   */
  async revoke(revocation: Revocation, expiresAt?: number): Promise<number> {
    const { config, broker, control } = this.parts;
    const ttl = expiresAt === undefined ? config.revocationTtl : Math.min(config.revocationTtl, expiresAt * 1000 - Date.now());
    if (ttl > 0 && !(await broker.ledger.revoke(revocation, ttl, config.limits.revocations))) {
      this.parts.limitHits.hit('revocations');
      throw new SwitchboardError('rate_limited', `${config.limits.revocations} revocations are held already (limits.revocations)`);
    }
    return control.send({ op: 'revoke', revocation });
  }

  /** Who is on a channel with presence, across every node. */
  presence(channel: string): Promise<PresenceResult> {
    const { hub, namespaces } = this.parts;
    return hub.presence(channel, namespaces.resolve(channel));
  }

  /**
   * A page of the channel's history (DEFAULT_HISTORY_LIMIT publications unless
   * `limit` says), cut to limits.maxReplyBytes; `fits` checks the encoded reply.
   */
  history(channel: string, options: { limit?: number; since?: StreamPosition; fits?: (result: HistoryResult) => boolean } = {}): Promise<HistoryResult> {
    const { hub, namespaces } = this.parts;
    return hub.history(channel, namespaces.resolve(channel), options.limit ?? DEFAULT_HISTORY_LIMIT, options.since, options.fits);
  }

  /** This node's figures now. */
  stats(): NodeStats {
    return this.parts.stats();
  }

  /** The nodes with a live lease: this one as of now, the others as of their last renewal (every nodeTtl / 4), oldest first. */
  async nodes(): Promise<NodeStats[]> {
    // What the broker holds is what each node's stats() put in its lease.
    const others = ((await this.parts.broker.nodes()) as NodeStats[]).filter((record) => record.node !== this.nodeId);
    return [this.stats(), ...others].sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt)));
  }

  /** Cluster totals (sums over the live nodes) and each node's figures. */
  async clusterStats(): Promise<ClusterStats> {
    const nodes = await this.nodes();
    const sum = (read: (node: NodeStats) => number | undefined) => nodes.reduce((total, node) => total + (Number(read(node)) || 0), 0);
    const counts = (field: 'messages' | 'rates'): MessageCounts => {
      const total = (key: keyof MessageCounts) => Math.round(sum((node) => node[field]?.[key]) * 10) / 10;
      return { received: total('received'), publications: total('publications'), delivered: total('delivered') };
    };
    return {
      totals: {
        nodes: nodes.length,
        connections: sum((node) => node.connections),
        subscriptions: sum((node) => node.subscriptions),
        messages: counts('messages'),
        rates: counts('rates'),
      },
      nodes,
    };
  }

  /**
   * The busiest channels of the cluster: each node's busiest (this node's live,
   * the others' from their lease), added up by channel. A channel outside a
   * node's own top LEASE_LIST_SIZE is not counted there, so the figures are a
   * floor for channels low on the list (docs/protocol.md, "The admin view").
   */
  async busiestChannels(top: number): Promise<Array<ChannelCount & { local: number }>> {
    const local = new Map(this.parts.hub.busiestChannels(LEASE_LIST_SIZE).map((c) => [c.channel, c.subscribers]));
    const totals = new Map(local);
    for (const node of await this.nodes()) {
      if (node.node === this.nodeId) continue;
      for (const c of node.busiest ?? []) totals.set(c.channel, (totals.get(c.channel) ?? 0) + c.subscribers);
    }
    return [...totals]
      .map(([channel, subscribers]) => ({ channel, subscribers, local: local.get(channel) ?? 0 }))
      .sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel))
      .slice(0, top);
  }

  /** How many disconnects this node remembers (the most /api/disconnects can ask for). */
  get disconnectsKept(): number {
    return this.parts.recentDisconnects.capacity;
  }

  /** This node's last disconnects and the newest of each other node (from its lease), newest first. */
  async recentDisconnects(limit: number): Promise<DisconnectRecord[]> {
    const all = this.parts.recentDisconnects.newest();
    for (const node of await this.nodes()) {
      if (node.node !== this.nodeId) all.push(...(node.disconnects ?? []));
    }
    return all.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
  }

  /** One of this node's connections as it is now; null when it is not (or no longer) here. */
  connection(client: string): ConnectionSnapshot | null {
    const session = this.parts.sessions.get(client);
    if (!session) return null;
    return {
      client: session.id,
      user: session.user,
      ip: session.ip,
      subprotocol: session.codec.subprotocol,
      subscriptions: [...session.subscriptions].map(([channel, subscription]) => ({ channel, holding: Boolean(subscription.held) })),
      queuedBytes: session.socketBufferedAmount,
      heldBytes: session.heldBytes,
    };
  }

  /** Register hooks (any of them); they run after those registered before, and before any registered 'last' (the backend proxy). */
  use(hooks: Hooks, place: HookPlace = 'app'): void {
    this.parts.hooks.add(hooks, place);
  }

  /** Every client publication in `namespace` must pass `schema` before it is stored or delivered (bad_request otherwise). */
  publishSchema(namespace: string, schema: StandardSchema): void {
    this.parts.namespaces.resolve(namespace === '' ? 'x' : `${namespace}:x`);
    this.parts.hooks.setPublishSchema(namespace, schema);
  }

  /** Register an RPC method, its payload checked by `schema` first when given. */
  rpc<In, Out>(method: string, handler: RpcHandler<In, Out>, schema?: StandardSchema<In>): void {
    this.parts.rpc.register(method, handler, schema);
  }

  /** Throws not_found for a channel in no configured namespace. */
  checkChannel(channel: string): void {
    this.parts.namespaces.resolve(channel);
  }

  /** The identity the authenticate hooks give a request, or null (no promise) when there are none. */
  authenticate(req: IncomingMessage): Promise<Identity | null> | null {
    const { hooks } = this.parts;
    return hooks.has('authenticate') ? hooks.authenticate(req) : null;
  }

  /** The identity the authenticateWithoutToken hooks give a request with no valid token, or null (no promise) when there are none. */
  authenticateWithoutToken(req: IncomingMessage, client: ClientContext): Promise<Identity | null> | null {
    const { hooks } = this.parts;
    return hooks.has('authenticateWithoutToken') ? hooks.authenticateWithoutToken(req, client) : null;
  }

  /** True when no namespace admits anonymous clients, so a handshake needs a token. */
  get requiresToken(): boolean {
    return !this.parts.namespaces.allowsAnonymous;
  }
}
