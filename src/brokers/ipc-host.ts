// The broker of a server running as several worker processes on one machine
// (`serve --workers N`, docs/scaling.md "Workers"): one MemoryBroker in the
// primary process, shared with every worker over IPC. Each worker is a node;
// the host knows which channels each one listens to and which presence entries
// it added, so a worker that exits or stops renewing its lease is cleaned up at
// once and its entries are handed to one survivor to announce.
import { SwitchboardError } from '../protocol/codes.js';
import type { PresenceEntry } from '../protocol/frames.js';
import { randomUUID } from 'node:crypto';
import type { ChannelEvent, EventRoutes, NodeRecord, QueuedEvent, Revocation, TallyMember } from './broker.js';
import type { IpcEndpoint, IpcMessage } from './ipc-endpoint.js';
import { MemoryBroker, type MemoryBrokerOptions } from './memory.js';

/** A worker as the host sees it. */
interface Member {
  /** Names the worker's tally members in the ledger, for its cleanup. */
  id: string;
  endpoint: IpcEndpoint;
  /** Channels whose events this worker wants. */
  channels: Set<string>;
  /** channel -> clients this worker added to its presence. */
  presence: Map<string, Set<string>>;
  /** Its lease: the record it last sent, when, and for how long it holds. */
  record: NodeRecord | null;
  renewedAt: number;
  ttl: number;
  gone: boolean;
  /** Why it was dropped, for the refusal of its later calls. */
  goneBecause: string;
  /** When its channel started to back up (0: it keeps up). */
  backedUpSince: number;
}

export interface BrokerHostOptions extends MemoryBrokerOptions {
  /**
   * A worker whose channel stays backed up this long (ms) is not reading what
   * it is sent: it is dropped and reported stuck, so the primary does not
   * queue its events without bound. Default 15,000 (nodeTtl's default).
   */
  maxBacklogMs?: number;
}

/** The broker operations a worker may call, by name. */
type Operation = (member: Member, args: unknown[]) => Promise<unknown> | unknown;

export class BrokerHost {
  private readonly broker: MemoryBroker;
  private readonly members = new Set<Member>();
  /** channel -> workers listening to it. */
  private readonly listeners = new Map<string, Set<Member>>();
  /** Leases run on the wall clock (options.now is the history's clock, which tests move). */
  private readonly now = Date.now;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly operations: Record<string, Operation>;
  /** The webhook routes the workers last gave (they share one config), for a departed worker's tally cleanup. */
  private routes: EventRoutes | null = null;

  private readonly maxBacklogMs: number;
  private closed = false;
  /** A call is being run; bounds it hits, by limit (made at the first one). */
  private inCall = false;
  private callHits: Map<string, number> | null = null;

  constructor(options: BrokerHostOptions = {}) {
    this.broker = new MemoryBroker({ ...options, onLimitHit: (limit) => this.hitDuringCall(limit) });
    this.maxBacklogMs = options.maxBacklogMs ?? 15_000;
    const b = this.broker;
    this.operations = {
      publish: (_m, [channel, publication, history, options]) => b.publish(channel as string, publication as never, history as never, options as never),
      emit: (_m, [channel, event]) => b.emit(channel as string, event as never),
      subscribe: (m, [channel]) => this.listen(m, channel as string),
      unsubscribe: (m, [channel]) => this.unlisten(m, channel as string),
      history: (_m, [channel, query, history]) => b.history(channel as string, query as never, history as never),
      addPresence: (m, [channel, entry]) => {
        track(m.presence, channel as string, (entry as PresenceEntry).client);
        return b.addPresence(channel as string, entry as PresenceEntry);
      },
      removePresence: (m, [channel, client]) => {
        untrack(m.presence, channel as string, client as string);
        return b.removePresence(channel as string, client as string);
      },
      presence: (_m, [channel]) => b.presence(channel as string),
      presenceCount: (_m, [channel]) => b.presenceCount(channel as string),
      lease: (m, [record, ttl]) => {
        m.record = record as NodeRecord;
        m.ttl = ttl as number;
        m.renewedAt = this.now();
        this.sweepEvery(m.ttl);
      },
      nodes: () => this.liveRecords(),
      tallyAdd: (m, [member, routes, limit]) => b.ledger.tallyAdd(member as TallyMember, this.route(routes), limit as number | undefined, m.id),
      tallyRemove: (m, [member, grace, routes]) => b.ledger.tallyRemove(member as TallyMember, grace as number, this.route(routes), m.id),
      settleTallies: (_m, [routes]) => b.ledger.settleTallies(this.route(routes)),
      enqueue: (_m, [events, routes]) => b.ledger.enqueue(events as QueuedEvent[], this.route(routes)),
      claimHead: (_m, [queue, node, leaseMs]) => b.ledger.claimHead(queue as string, node as string, leaseMs as number),
      ack: (_m, [queue, id]) => b.ledger.ack(queue as string, id as string),
      queued: (_m, [queues]) => b.ledger.queued(queues as string[]),
      revoke: (_m, [revocation, ttl, bound]) => b.ledger.revoke(revocation as Revocation, ttl as number, bound as number),
      isRevoked: (_m, [user, issuedAt, jti]) => b.ledger.isRevoked(user as string, issuedAt as number | null, jti as string | null),
      revocations: () => b.ledger.revocations(),
      leave: (m) => this.depart(m, 'it left'),
    };
  }

  async start(): Promise<void> {
    await this.broker.start((channel, event) => this.deliver(channel, event));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.broker.close();
  }

  /** Serve a worker on this channel until it says goodbye or the channel closes. */
  accept(endpoint: IpcEndpoint): void {
    const member: Member = {
      id: randomUUID(),
      endpoint,
      channels: new Set(),
      presence: new Map(),
      record: null,
      renewedAt: this.now(),
      ttl: 0,
      gone: false,
      goneBecause: '',
      backedUpSince: 0,
    };
    this.members.add(member);
    endpoint.onMessage((message) => {
      if (message.sb !== 'call') return;
      else if (this.closed) this.refuse(member, message, 'the broker (primary process) is shutting down');
      else if (member.gone) this.refuse(member, message, `this worker was dropped from the cluster: ${member.goneBecause}`);
      else this.call(member, message);
    });
    endpoint.onClose(() => this.depart(member, 'its channel closed'));
  }

  /** Workers whose lease is live. */
  get nodeCount(): number {
    return this.liveRecords().length;
  }

  /** Channels some worker listens to (each held in the shared broker). */
  get listenedChannels(): number {
    return this.listeners.size;
  }

  /**
   * Told of a worker that is alive but stuck (its lease lapsed, or it stopped
   * reading its channel): it has been dropped, and the cluster may replace it.
   */
  onStuck: ((endpoint: IpcEndpoint) => void) | null = null;

  private refuse(member: Member, message: IpcMessage, why: string): void {
    this.send(member, { sb: 'err', id: message.id, code: 'unavailable', message: why });
  }

  /** Send, and drop a worker whose channel has been backed up for longer than maxBacklogMs. */
  private send(member: Member, message: IpcMessage): void {
    if (member.endpoint.send(message)) {
      member.backedUpSince = 0;
      return;
    }
    const now = this.now();
    if (member.backedUpSince === 0) member.backedUpSince = now;
    else if (now - member.backedUpSince > this.maxBacklogMs && !member.gone) this.stuck(member, `it has not read its channel for ${this.maxBacklogMs} ms`);
  }

  /**
   * Drop a worker that is alive but not keeping up, and tell it (it reads the
   * notice whenever it gets to it): it reports itself unhealthy and closes its
   * subscribers with 4000, so none of them waits for events that will not come.
   */
  private stuck(member: Member, why: string): void {
    this.depart(member, why);
    member.endpoint.send({ sb: 'dropped', why });
    this.onStuck?.(member.endpoint);
  }

  private call(member: Member, message: IpcMessage): void {
    const { id, op, args } = message as IpcMessage & { id: number; op: string; args: unknown[] };
    const operation = this.operations[op];
    if (!operation) {
      this.refuse(member, message, `unknown broker operation ${op}`);
      return;
    }
    // The memory broker does its work synchronously inside each call: the
    // bounds hit during it are this worker's, and are sent with the answer so
    // that summing the workers' /metrics counts each hit once.
    this.inCall = true;
    let result: unknown;
    try {
      result = operation(member, args);
    } catch (error) {
      result = Promise.reject(error);
    }
    this.inCall = false;
    const hits = this.callHits && [...this.callHits];
    this.callHits = null;
    Promise.resolve(result).then(
      (value) => this.send(member, hits ? { sb: 'ret', id, value, hits } : { sb: 'ret', id, value }),
      (error: unknown) =>
        this.send(member, {
          sb: 'err',
          id,
          code: error instanceof SwitchboardError ? error.code : null,
          message: error instanceof Error ? error.message : String(error),
          ...(hits ? { hits } : {}),
        }),
    );
  }

  private hitDuringCall(limit: string): void {
    if (!this.inCall) return;
    this.callHits ??= new Map();
    this.callHits.set(limit, (this.callHits.get(limit) ?? 0) + 1);
  }

  private deliver(channel: string, event: ChannelEvent): void {
    const members = this.listeners.get(channel);
    if (!members) return;
    const message = { sb: 'event', channel, event };
    for (const member of members) this.send(member, message);
  }

  /**
   * Everything here happens before the first await: an unsubscribe read from
   * the same channel right after must find the worker listed, or the channel
   * would stay subscribed (and held) for good.
   */
  private async listen(member: Member, channel: string): Promise<void> {
    if (member.gone) return;
    member.channels.add(channel);
    let members = this.listeners.get(channel);
    const first = !members;
    if (!members) this.listeners.set(channel, (members = new Set()));
    members.add(member);
    if (first) await this.broker.subscribe(channel);
  }

  private async unlisten(member: Member, channel: string): Promise<void> {
    member.channels.delete(channel);
    const members = this.listeners.get(channel);
    if (!members?.delete(member) || members.size > 0) return;
    this.listeners.delete(channel);
    await this.broker.unsubscribe(channel);
  }

  /**
   * A worker left (exited, closed its channel, called leave, or let its lease
   * lapse): it stops receiving events, drops out of nodes(), and its presence
   * entries are removed and handed to one live worker, which sends the leaves.
   */
  private depart(member: Member, why: string): void {
    if (member.gone) return;
    member.gone = true;
    member.goneBecause = why;
    this.members.delete(member);
    for (const channel of [...member.channels]) void this.unlisten(member, channel);
    // The heir must be able to send the leaves: a live lease, not one about to lapse unnoticed.
    const now = this.now();
    const heir = [...this.members].find((m) => leaseLive(m, now));
    for (const [channel, clients] of member.presence) {
      void this.orphan(channel, clients, heir);
    }
    member.presence.clear();
    // Its users and channels go down at once; the queued events wait for a live worker to deliver them.
    if (this.routes) void this.broker.ledger.dropNode(member.id, this.routes);
  }

  private route(routes: unknown): EventRoutes {
    return (this.routes = routes as EventRoutes);
  }

  private async orphan(channel: string, clients: Set<string>, heir: Member | undefined): Promise<void> {
    const held = new Map((await this.broker.presence(channel)).map((entry) => [entry.client, entry]));
    const entries: PresenceEntry[] = [];
    const left: number[] = [];
    for (const client of clients) {
      const entry = held.get(client);
      if (!entry) continue;
      left.push(await this.broker.removePresence(channel, client));
      entries.push(entry);
    }
    if (entries.length > 0 && heir) this.send(heir, { sb: 'orphans', channel, entries, left });
  }

  private liveRecords(): NodeRecord[] {
    const now = this.now();
    const records: NodeRecord[] = [];
    for (const member of this.members) {
      if (leaseLive(member, now)) records.push(member.record!);
    }
    return records;
  }

  /** Check leases often enough to find a lapsed one within its ttl. */
  private sweepEvery(ttl: number): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(
      () => {
        const now = this.now();
        for (const member of [...this.members]) {
          if (member.record && !leaseLive(member, now)) this.stuck(member, `its lease was not renewed for ${member.ttl} ms`);
        }
      },
      Math.max(50, Math.floor(ttl / 4)),
    );
    this.sweeper.unref();
  }
}

/** The worker registered as a node and renewed its lease within its ttl. */
function leaseLive(member: Member, now: number): boolean {
  return member.record !== null && now - member.renewedAt <= member.ttl;
}

function track(index: Map<string, Set<string>>, channel: string, client: string): void {
  let clients = index.get(channel);
  if (!clients) index.set(channel, (clients = new Set()));
  clients.add(client);
}

function untrack(index: Map<string, Set<string>>, channel: string, client: string): void {
  const clients = index.get(channel);
  if (!clients) return;
  clients.delete(client);
  if (clients.size === 0) index.delete(channel);
}
