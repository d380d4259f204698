// A worker's broker when the server runs as several processes on one machine
// (`serve --workers N`): every operation is a call to the BrokerHost in the
// primary process, and the host sends back the events of the channels this
// worker listens to. The channel is ordered, so events arrive in publish order
// and a subscribe's answer comes after nothing it could have missed.
import { ERROR_CODES, SwitchboardError, type ErrorCode } from '../protocol/codes.js';
import type { PresenceEntry } from '../protocol/frames.js';
import type {
  Broker,
  ChannelEvent,
  ChannelEventHandler,
  HistoryPage,
  HistoryPolicy,
  HistoryQuery,
  NodeLease,
  NodeRecord,
  PresenceEventKind,
  Publication,
  PublishOptions,
  EventLedger,
} from './broker.js';
import type { IpcEndpoint, IpcMessage } from './ipc-endpoint.js';

/** The ledger's methods, each a call of that name to the host. */
const LEDGER_OPERATIONS: ReadonlyArray<keyof EventLedger> = [
  'tallyAdd',
  'tallyRemove',
  'settleTallies',
  'enqueue',
  'claimHead',
  'ack',
  'queued',
  'revoke',
  'isRevoked',
  'revocations',
];

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface IpcBrokerOptions {
  /** A call the host has not answered within this many ms fails with `unavailable`. Default 2000. */
  timeout?: number;
}

export class IpcBroker implements Broker {
  readonly name = 'workers';
  private handler: ChannelEventHandler | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private open = true;
  private lease: NodeLease | null = null;
  private renewer: NodeJS.Timeout | null = null;
  /** Channels this worker listens to, to tell them of a gap if the host drops it. */
  private readonly channels = new Set<string>();
  /** Bounds the host hit while answering this worker's calls. */
  private readonly hits = new Map<string, number>();
  private readonly timeout: number;
  /** The host keeps the tallies and queues: each call goes there by the ledger method's name. */
  readonly ledger = Object.fromEntries(LEDGER_OPERATIONS.map((op) => [op, (...args: unknown[]) => this.call(op, args)])) as unknown as EventLedger;

  constructor(
    private readonly endpoint: IpcEndpoint,
    options: IpcBrokerOptions = {},
  ) {
    this.timeout = options.timeout ?? 2_000;
    endpoint.onMessage((message) => this.receive(message));
    endpoint.onClose(() => this.lost());
  }

  async start(handler: ChannelEventHandler): Promise<void> {
    this.handler = handler;
  }

  async close(): Promise<void> {
    if (this.renewer) clearInterval(this.renewer);
    this.renewer = null;
    this.handler = null;
    // Answered once the host has dropped this node: a nodes() on another worker after close() no longer lists it.
    if (this.open) await this.call('leave', []).catch(() => {});
    this.lost();
  }

  isHealthy(): boolean {
    return this.open && this.handler !== null;
  }

  /** Bounds the host hit in this worker's calls (each hit is told to the one worker whose call hit it). */
  limitHits(): Iterable<[string, number]> {
    return this.hits.entries();
  }

  publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions): Promise<number | null> {
    return this.call('publish', [channel, publication, history, options]);
  }

  emit(channel: string, event: ChannelEvent & { kind: PresenceEventKind }): Promise<void> {
    return this.call('emit', [channel, event]);
  }

  subscribe(channel: string): Promise<void> {
    this.channels.add(channel);
    return this.call('subscribe', [channel]);
  }

  unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel);
    return this.call('unsubscribe', [channel]);
  }

  history(channel: string, query: HistoryQuery, history: HistoryPolicy): Promise<HistoryPage> {
    return this.call('history', [channel, query, history]);
  }

  addPresence(channel: string, entry: PresenceEntry): Promise<number> {
    return this.call('addPresence', [channel, entry]);
  }

  removePresence(channel: string, client: string): Promise<number> {
    return this.call('removePresence', [channel, client]);
  }

  presence(channel: string): Promise<PresenceEntry[]> {
    return this.call('presence', [channel]);
  }

  presenceCount(channel: string): Promise<{ clients: number; users: number }> {
    return this.call('presenceCount', [channel]);
  }

  /** Send the record now and every ttl / 4, so the host finds this worker stuck within its ttl. */
  async registerNode(lease: NodeLease): Promise<void> {
    this.lease = lease;
    await this.renew();
    this.renewer = setInterval(
      () => {
        this.renew().catch(() => {}); // a missed renewal shows as a lapsed lease
      },
      Math.max(50, Math.floor(lease.ttl / 4)),
    );
    this.renewer.unref();
  }

  nodes(): Promise<NodeRecord[]> {
    return this.call('nodes', []);
  }

  private async renew(): Promise<void> {
    const lease = this.lease!;
    await this.call('lease', [lease.describe(), lease.ttl]);
  }

  private call<T>(op: string, args: unknown[]): Promise<T> {
    if (!this.open) return Promise.reject(new SwitchboardError('unavailable', 'the broker (primary process) is gone'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new SwitchboardError('unavailable', `the broker (primary process) did not answer ${op} within ${this.timeout} ms`));
      }, this.timeout);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.endpoint.send({ sb: 'call', id, op, args });
    });
  }

  private receive(message: IpcMessage): void {
    switch (message.sb) {
      case 'event':
        this.handler?.(message.channel as string, message.event as ChannelEvent);
        return;
      case 'ret':
      case 'err': {
        // Bounds the host hit count even when the answer came too late for its caller.
        for (const [limit, added] of (message.hits as Array<[string, number]> | undefined) ?? []) {
          this.hits.set(limit, (this.hits.get(limit) ?? 0) + added);
        }
        const pending = this.pending.get(message.id as number);
        if (!pending) return;
        this.pending.delete(message.id as number);
        clearTimeout(pending.timer);
        if (message.sb === 'ret') pending.resolve(message.value);
        else pending.reject(hostError(message));
        return;
      }
      case 'dropped': {
        // The host stopped sending this worker events: its subscribers have a gap (they reconnect and recover).
        const handler = this.handler;
        this.lost();
        for (const channel of this.channels) handler?.(channel, { kind: 'interrupted' });
        return;
      }
      case 'orphans':
        this.lease?.onOrphans(message.channel as string, message.entries as PresenceEntry[], message.left as number[]);
        return;
    }
  }

  /** The channel is gone: nothing more will be answered. */
  private lost(): void {
    this.open = false;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new SwitchboardError('unavailable', 'the broker (primary process) is gone'));
      this.pending.delete(id);
    }
  }
}

function hostError(message: IpcMessage): Error {
  const code = message.code as string | null;
  const text = message.message as string;
  return code !== null && (ERROR_CODES as readonly string[]).includes(code) ? new SwitchboardError(code as ErrorCode, text) : new Error(text);
}
