// What a node says about itself: in its lease (other nodes read it), in
// /api/stats and /api/nodes, in `switchboard stats` and on the admin page.
// One type for a record that crosses all of those (docs/protocol.md, "HTTP API").

/** Counts of frames and publications; as totals, or per second over the last 10 seconds. */
export interface MessageCounts {
  received: number;
  publications: number;
  delivered: number;
}

export interface ChannelCount {
  channel: string;
  subscribers: number;
}

/** One close, as /api/disconnects lists it. */
export interface DisconnectRecord {
  /** ISO 8601. */
  at: string;
  node: string;
  client: string;
  user: string | null;
  code: number;
  reason: string;
  /** 'server' when this server gave the code, else 'client' (the peer or the network). */
  by: 'server' | 'client';
}

// A type, not an interface, so that it is a broker's NodeRecord (an object with `node`) as it is.
export type NodeStats = {
  node: string;
  /** host:port where it listens; null when attached to an application's server. */
  address: string | null;
  /** Workers of one `serve --workers` share an address: the pid tells them apart. */
  pid: number;
  version: string;
  /** ISO 8601. */
  startedAt: string;
  broker: string;
  connections: number;
  subscriptions: number;
  channels: number;
  messages: MessageCounts;
  rates: MessageCounts;
  /** Seconds. */
  uptime: number;
  /** The node's busiest channels by local subscribers, most first (at most 20). */
  busiest: ChannelCount[];
  /** The node's newest disconnects, newest first (at most 20). */
  disconnects: DisconnectRecord[];
};

/** GET /api/stats: sums over the live nodes, and each node's figures. */
export interface ClusterStats {
  totals: {
    nodes: number;
    connections: number;
    subscriptions: number;
    messages: MessageCounts;
    rates: MessageCounts;
  };
  nodes: NodeStats[];
}
