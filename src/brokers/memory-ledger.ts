// Cluster-wide tallies and webhook queues for brokers whose cluster is one
// process (memory) or one primary (workers). Every step is synchronous, so
// each is as atomic as the Redis scripts that do the same (redis-ledger.ts).
import { randomUUID } from 'node:crypto';
import type { EventLedger, EventRoutes, QueuedEvent, Revocation, TallyAnswer, TallyMember } from './broker.js';

/** The event a key's rise or fall queues. */
const RISE = { user: 'user.online', channel: 'channel.occupied' } as const;
const FALL = { user: 'user.offline', channel: 'channel.vacated' } as const;

interface Tally {
  members: Set<string>;
  /** The rise was queued and the fall not yet. */
  up: boolean;
  /** When the key, empty, goes down (0: not pending). */
  dueAt: number;
}

export class MemoryLedger implements EventLedger {
  private readonly tallies = new Map<string, Tally>();
  /** Emptied tallies waiting for their grace to pass: a settle looks at these only, not at every tally. */
  private readonly emptied = new Set<string>();
  /** node -> its tally members, for a dead worker's cleanup. */
  private readonly byNode = new Map<string, Set<string>>();
  private readonly queues = new Map<string, QueuedEvent[]>();
  private readonly leases = new Map<string, { node: string; until: number }>();
  /** `u:<user>` or `j:<jti>` -> the revocation's `before` (0 for a jti) and when it expires. */
  private readonly revoked = new Map<string, { before: number; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async tallyAdd(member: TallyMember, routes: EventRoutes, limit = 0, node = ''): Promise<TallyAnswer> {
    const id = tallyId(member);
    let tally = this.tallies.get(id);
    if (!tally) this.tallies.set(id, (tally = { members: new Set(), up: false, dueAt: 0 }));
    if (limit > 0 && !tally.members.has(member.member) && tally.members.size >= limit) return { count: -1, dropped: 0 };
    tally.members.add(member.member);
    tally.dueAt = 0;
    this.emptied.delete(id);
    indexAdd(this.byNode, node, memberId(member));
    let dropped = 0;
    if (!tally.up) {
      tally.up = true;
      dropped = this.push([this.event(RISE[member.scope], member)], routes);
    }
    return { count: tally.members.size, dropped };
  }

  async tallyRemove(member: TallyMember, graceMs: number, routes: EventRoutes, node = ''): Promise<TallyAnswer> {
    this.byNode.get(node)?.delete(memberId(member));
    return { count: this.remove(member, graceMs), dropped: await this.settleTallies(routes) };
  }

  /** A dead node's members: out at once, no grace (they have been gone since it died). */
  async dropNode(node: string, routes: EventRoutes): Promise<number> {
    for (const id of this.byNode.get(node) ?? []) this.remove(JSON.parse(id) as TallyMember, 0);
    this.byNode.delete(node);
    return this.settleTallies(routes);
  }

  async settleTallies(routes: EventRoutes): Promise<number> {
    const now = this.now();
    let dropped = 0;
    for (const id of this.emptied) {
      const tally = this.tallies.get(id)!;
      if (tally.dueAt > now) continue;
      this.emptied.delete(id);
      this.tallies.delete(id);
      if (tally.up) dropped += this.push([this.event(FALL[scopeOf(id)], JSON.parse(id) as TallyMember)], routes);
    }
    return dropped;
  }

  async enqueue(events: QueuedEvent[], routes: EventRoutes): Promise<number> {
    return this.push(events, routes);
  }

  async claimHead(queue: string, node: string, leaseMs: number): Promise<QueuedEvent | null> {
    const now = this.now();
    const lease = this.leases.get(queue);
    if (lease && lease.node !== node && lease.until > now) return null;
    this.leases.set(queue, { node, until: now + leaseMs });
    return this.queues.get(queue)?.[0] ?? null;
  }

  async ack(queue: string, id: string): Promise<void> {
    const events = this.queues.get(queue);
    if (events?.[0]?.id === id) events.shift();
  }

  async queued(queues: string[]): Promise<number> {
    return queues.reduce((sum, queue) => sum + (this.queues.get(queue)?.length ?? 0), 0);
  }

  async revoke(revocation: Revocation, ttlMs: number, bound: number): Promise<boolean> {
    const now = this.now();
    for (const [key, held] of this.revoked) if (held.until <= now) this.revoked.delete(key);
    const key = 'jti' in revocation ? `j:${revocation.jti}` : `u:${revocation.user}`;
    const held = this.revoked.get(key);
    if (!held && this.revoked.size >= bound) return false;
    const before = 'jti' in revocation ? 0 : Math.max(revocation.before, held?.before ?? 0);
    this.revoked.set(key, { before, until: Math.max(now + ttlMs, held?.until ?? 0) });
    return true;
  }

  async isRevoked(user: string, issuedAt: number | null, jti: string | null): Promise<boolean> {
    const now = this.now();
    const byUser = this.revoked.get(`u:${user}`);
    if (byUser && byUser.until > now && (issuedAt === null || issuedAt < byUser.before)) return true;
    const byJti = jti === null ? undefined : this.revoked.get(`j:${jti}`);
    return byJti !== undefined && byJti.until > now;
  }

  async revocations(): Promise<number> {
    const now = this.now();
    let count = 0;
    for (const held of this.revoked.values()) if (held.until > now) count++;
    return count;
  }

  /** Take a member out; an emptied key goes down after `graceMs` (settled by settleTallies). Answers the members left. */
  private remove(member: TallyMember, graceMs: number): number {
    const id = tallyId(member);
    const tally = this.tallies.get(id);
    if (!tally || !tally.members.delete(member.member)) return tally?.members.size ?? 0;
    if (tally.members.size === 0) {
      tally.dueAt = this.now() + graceMs;
      this.emptied.add(id);
    }
    return tally.members.size;
  }

  private push(events: QueuedEvent[], routes: EventRoutes): number {
    let dropped = 0;
    for (const event of events) {
      for (const queue of routes.queues[event.type] ?? []) {
        let list = this.queues.get(queue);
        if (!list) this.queues.set(queue, (list = []));
        list.push(event);
        while (list.length > routes.bound) {
          list.shift();
          dropped++;
        }
      }
    }
    return dropped;
  }

  private event(type: string, member: Pick<TallyMember, 'scope' | 'key'>): QueuedEvent {
    return { id: `msg_${randomUUID()}`, type, at: this.now(), data: { [member.scope]: member.key } };
  }
}

/** A tally's key: scope and key, as JSON so that no character of a user or channel is ambiguous. */
function tallyId(member: Pick<TallyMember, 'scope' | 'key'>): string {
  return JSON.stringify({ scope: member.scope, key: member.key });
}

function memberId(member: TallyMember): string {
  return JSON.stringify({ scope: member.scope, key: member.key, member: member.member });
}

function scopeOf(id: string): TallyMember['scope'] {
  return (JSON.parse(id) as TallyMember).scope;
}

function indexAdd(index: Map<string, Set<string>>, node: string, id: string): void {
  let set = index.get(node);
  if (!set) index.set(node, (set = new Set()));
  set.add(id);
}
