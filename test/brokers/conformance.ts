// The broker conformance suite: written once, run against every broker
// (memory, the workers' IPC broker, Redis, Sentinel and Cluster). Each test
// uses its own channel names so that brokers sharing storage do not see each
// other's data.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, ChannelEvent, HistoryPolicy, NodeLease } from '../../src/brokers/broker.js';
import type { PresenceEntry } from '../../src/protocol/frames.js';
import { ledgerConformance } from './ledger-conformance.js';
import { stateConformance } from './state-conformance.js';

export interface BrokerHarness {
  /** A new broker (one node) on the shared storage. */
  make(): Promise<Broker>;
  /** Make the broker lose its channels' history, as a restart of a memory broker does; returns the broker to use after. */
  loseHistory(broker: Broker): Promise<Broker>;
  /** Let `ms` of time pass, for ttl eviction. */
  advance(ms: number): Promise<void>;
  /** True when two brokers made by `make` are two nodes sharing channels. */
  multiNode: boolean;
  /**
   * Stop the broker as a SIGKILL would: no more lease renewals, no cleanup,
   * connections cut. Brokers without other nodes (memory) have no ghosts and leave it out.
   */
  crash?(broker: Broker): void;
}

/** Collects a broker's events and waits for them, without sleeping. */
export class EventLog {
  readonly events: Array<{ channel: string; event: ChannelEvent }> = [];
  private waiters: Array<() => void> = [];

  readonly handler = (channel: string, event: ChannelEvent): void => {
    this.events.push({ channel, event });
    for (const wake of this.waiters.splice(0)) wake();
  };

  of(channel: string): ChannelEvent[] {
    return this.events.filter((e) => e.channel === channel).map((e) => e.event);
  }

  payloads(channel: string): unknown[] {
    return this.of(channel).flatMap((e) => (e.kind === 'publication' ? [e.publication.payload] : []));
  }

  async until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('broker event did not arrive in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

const HISTORY: HistoryPolicy = { size: 5, ttl: 60_000 };

function lease(id: string, ttl = 15_000, onOrphans: NodeLease['onOrphans'] = () => {}): NodeLease {
  return { describe: () => ({ node: id, address: 'here', connections: 0 }), onOrphans, ttl };
}

export function brokerConformance(name: string, harness: BrokerHarness): void {
  describe(`${name} broker conformance`, () => {
    const open: Broker[] = [];
    const channel = () => `conf-${randomUUID()}`;

    async function node(): Promise<{ broker: Broker; log: EventLog }> {
      const broker = await harness.make();
      const log = new EventLog();
      await broker.start(log.handler);
      open.push(broker);
      return { broker, log };
    }

    afterEach(async () => {
      await Promise.all(open.splice(0).map((b) => b.close()));
    });

    ledgerConformance(harness, node, lease);

    describe('offsets and epochs', () => {
      it('starts a channel at offset 0 and gives each publication the next offset', async () => {
        const { broker } = await node();
        const c = channel();
        const start = await broker.history(c, { limit: 0 }, HISTORY);
        expect(start.offset).toBe(0);
        expect(typeof start.epoch).toBe('string');
        const offsets = [];
        for (let i = 0; i < 3; i++) offsets.push(await broker.publish(c, { payload: i }, HISTORY));
        expect(offsets).toEqual([1, 2, 3]);
        const after = await broker.history(c, { limit: 0 }, HISTORY);
        expect(after).toMatchObject({ epoch: start.epoch, offset: 3 });
      });

      it('returns null offsets and stores nothing without a history policy', async () => {
        const { broker } = await node();
        const c = channel();
        expect(await broker.publish(c, { payload: 'x' }, null)).toBeNull();
        expect((await broker.history(c, {}, HISTORY)).publications).toEqual([]);
      });

      it('keeps separate offsets per channel', async () => {
        const { broker } = await node();
        const [a, b] = [channel(), channel()];
        await broker.publish(a, { payload: 1 }, HISTORY);
        await broker.publish(a, { payload: 2 }, HISTORY);
        expect(await broker.publish(b, { payload: 1 }, HISTORY)).toBe(1);
      });

      it('changes the epoch when history is lost', async () => {
        const first = await node();
        const c = channel();
        await first.broker.publish(c, { payload: 1 }, HISTORY);
        const before = await first.broker.history(c, { limit: 0 }, HISTORY);
        const broker = await harness.loseHistory(first.broker);
        if (broker !== first.broker) {
          open.push(broker);
          await broker.start(new EventLog().handler);
        }
        const after = await broker.history(c, { since: { epoch: before.epoch, offset: 1 } }, HISTORY);
        expect(after.epoch).not.toBe(before.epoch);
        expect(after.recovered).toBe(false);
      });
    });

    describe('delivery', () => {
      it('delivers publications of subscribed channels in publish order, with offsets and from', async () => {
        const { broker, log } = await node();
        const c = channel();
        await broker.subscribe(c);
        for (let i = 1; i <= 20; i++) await broker.publish(c, { payload: i, from: { client: 'c1', user: 'u1' } }, HISTORY);
        await log.until(() => log.of(c).length === 20);
        expect(log.payloads(c)).toEqual([...Array(20).keys()].map((i) => i + 1));
        const first = log.of(c)[0]!;
        expect(first).toEqual({ kind: 'publication', publication: { offset: 1, payload: 1, from: { client: 'c1', user: 'u1' } } });
      });

      it('delivers nothing for channels not subscribed, or after unsubscribe', async () => {
        const { broker, log } = await node();
        const [quiet, marker] = [channel(), channel()];
        await broker.subscribe(quiet);
        await broker.unsubscribe(quiet);
        await broker.subscribe(marker);
        await broker.publish(quiet, { payload: 'unheard' }, HISTORY);
        await broker.publish(marker, { payload: 'heard' }, HISTORY);
        await log.until(() => log.of(marker).length === 1);
        expect(log.of(quiet)).toEqual([]);
      });

      it('carries join, update and leave events without storing them', async () => {
        const { broker, log } = await node();
        const c = channel();
        await broker.subscribe(c);
        const entry = { client: 'c1', user: 'u1', info: { name: 'Ann' } };
        const updated = { ...entry, info: { name: 'Ann', status: 'away' } };
        await broker.emit(c, { kind: 'join', entry });
        await broker.emit(c, { kind: 'update', entry: updated });
        await broker.emit(c, { kind: 'leave', entry });
        await log.until(() => log.of(c).length === 3);
        expect(log.of(c)).toEqual([
          { kind: 'join', entry },
          { kind: 'update', entry: updated },
          { kind: 'leave', entry },
        ]);
        expect((await broker.history(c, {}, HISTORY)).offset).toBe(0);
      });
    });

    describe('history and recovery', () => {
      it('returns the newest publications, oldest first, up to limit', async () => {
        const { broker } = await node();
        const c = channel();
        for (let i = 1; i <= 4; i++) await broker.publish(c, { payload: i }, HISTORY);
        const page = await broker.history(c, { limit: 2 }, HISTORY);
        expect(page.publications.map((p) => [p.offset, p.payload])).toEqual([
          [3, 3],
          [4, 4],
        ]);
        expect(page.recovered).toBe(false);
      });

      it('recovers exactly the publications after a held position', async () => {
        const { broker } = await node();
        const c = channel();
        for (let i = 1; i <= 4; i++) await broker.publish(c, { payload: i }, HISTORY);
        const { epoch } = await broker.history(c, { limit: 0 }, HISTORY);
        const page = await broker.history(c, { since: { epoch, offset: 2 } }, HISTORY);
        expect(page.recovered).toBe(true);
        expect(page.publications.map((p) => p.offset)).toEqual([3, 4]);
        const upToDate = await broker.history(c, { since: { epoch, offset: 4 } }, HISTORY);
        expect(upToDate).toMatchObject({ recovered: true, publications: [] });
      });

      it('keeps only the newest size publications, and cannot recover from before them', async () => {
        const { broker } = await node();
        const c = channel();
        for (let i = 1; i <= 12; i++) await broker.publish(c, { payload: i }, HISTORY);
        const page = await broker.history(c, {}, HISTORY);
        expect(page.publications.map((p) => p.offset)).toEqual([8, 9, 10, 11, 12]);
        const tooOld = await broker.history(c, { since: { epoch: page.epoch, offset: 6 } }, HISTORY);
        expect(tooOld.recovered).toBe(false);
        const justHeld = await broker.history(c, { since: { epoch: page.epoch, offset: 7 } }, HISTORY);
        expect(justHeld.recovered).toBe(true);
        expect(justHeld.publications.map((p) => p.offset)).toEqual([8, 9, 10, 11, 12]);
      });

      it('evicts publications older than ttl, but keeps the position', async () => {
        const { broker } = await node();
        const c = channel();
        const policy = { size: 100, ttl: 1_000 };
        await broker.publish(c, { payload: 'old' }, policy);
        await harness.advance(1_500);
        await broker.publish(c, { payload: 'new' }, policy);
        const page = await broker.history(c, {}, policy);
        expect(page.publications.map((p) => p.payload)).toEqual(['new']);
        expect(await broker.history(c, { since: { epoch: page.epoch, offset: 0 } }, policy)).toMatchObject({ recovered: false });
        expect(await broker.history(c, { since: { epoch: page.epoch, offset: 1 } }, policy)).toMatchObject({ recovered: true });
        await harness.advance(1_500);
        const idle = await broker.history(c, { since: { epoch: page.epoch, offset: 2 } }, policy);
        expect(idle).toMatchObject({ epoch: page.epoch, offset: 2, recovered: true, publications: [] });
      });

      it('evicts the oldest publications past the channel’s bytes, keeps the newest, and cannot recover from before them', async () => {
        const { broker } = await node();
        const c = channel();
        const policy: HistoryPolicy = { size: 100, ttl: 60_000, bytes: 3_000 };
        const kilobyte = 'x'.repeat(1_000);
        for (let i = 1; i <= 10; i++) expect(await broker.publish(c, { payload: `${i}:${kilobyte}` }, policy)).toBe(i);
        const page = await broker.history(c, {}, policy);
        // About 1,000 bytes each: two fit under 3,000 with their encoding.
        expect(page.publications.map((p) => p.offset)).toEqual([9, 10]);
        const gone = await broker.history(c, { since: { epoch: page.epoch, offset: 7 } }, policy);
        expect(gone.recovered).toBe(false);
        const held = await broker.history(c, { since: { epoch: page.epoch, offset: 8 } }, policy);
        expect(held).toMatchObject({ recovered: true });
        expect(held.publications.map((p) => p.offset)).toEqual([9, 10]);
        // One publication larger than the bound alone is still kept: the newest always is.
        await broker.publish(c, { payload: 'y'.repeat(5_000) }, policy);
        expect((await broker.history(c, {}, policy)).publications.map((p) => p.offset)).toEqual([11]);
        expect([...(broker.limitHits?.() ?? [])].find(([name]) => name === 'historyBytesPerChannel')?.[1]).toBeGreaterThan(0);
      });

      it('cuts a page at maxBytes, keeping the newest without since and the oldest after since', async () => {
        const { broker } = await node();
        const c = channel();
        const kilobyte = 'x'.repeat(1_000);
        for (let i = 1; i <= 5; i++) await broker.publish(c, { payload: `${i}:${kilobyte}` }, HISTORY);
        const newest = await broker.history(c, { maxBytes: 2_500 }, HISTORY);
        expect(newest.publications.map((p) => p.offset)).toEqual([4, 5]);
        expect(newest.truncated).toBe(true);
        const after = await broker.history(c, { since: { epoch: newest.epoch, offset: 1 }, maxBytes: 2_500 }, HISTORY);
        expect(after.publications.map((p) => p.offset)).toEqual([2, 3]);
        expect(after).toMatchObject({ recovered: true, truncated: true });
        const one = await broker.history(c, { maxBytes: 10 }, HISTORY);
        expect(one.publications.map((p) => p.offset)).toEqual([5]);
        expect((await broker.history(c, { maxBytes: 1_000_000 }, HISTORY)).truncated).toBeUndefined();
      });

      it('creates no state for a read-only read of an unknown channel', async () => {
        const { broker } = await node();
        const c = channel();
        const first = await broker.history(c, { readOnly: true, limit: 10 }, HISTORY);
        expect(first).toMatchObject({ offset: 0, publications: [], recovered: false });
        const second = await broker.history(c, { readOnly: true, limit: 10 }, HISTORY);
        // No epoch was kept: each read-only answer is a fresh one, and neither is the channel's later epoch.
        expect(second.epoch).not.toBe(first.epoch);
        expect(await broker.publish(c, { payload: 1 }, HISTORY)).toBe(1);
        const created = await broker.history(c, { readOnly: true }, HISTORY);
        expect(created.epoch).not.toBe(first.epoch);
        expect(created.publications.map((p) => p.payload)).toEqual([1]);
        expect((await broker.history(c, { since: { epoch: first.epoch, offset: 0 } }, HISTORY)).recovered).toBe(false);
      });

      it('does not recover from an unknown epoch or a position from the future', async () => {
        const { broker } = await node();
        const c = channel();
        await broker.publish(c, { payload: 1 }, HISTORY);
        const { epoch } = await broker.history(c, { limit: 0 }, HISTORY);
        expect((await broker.history(c, { since: { epoch: 'other', offset: 1 } }, HISTORY)).recovered).toBe(false);
        expect((await broker.history(c, { since: { epoch, offset: 9 } }, HISTORY)).recovered).toBe(false);
      });
    });

    describe('presence', () => {
      it('adds, refreshes and removes entries', async () => {
        const { broker } = await node();
        const c = channel();
        const ann = { client: 'c1', user: 'ann', info: { name: 'Ann' } };
        const bob = { client: 'c2', user: null, info: null };
        await broker.addPresence(c, ann);
        await broker.addPresence(c, bob);
        await broker.addPresence(c, ann);
        const sorted = (await broker.presence(c)).sort((x, y) => x.client.localeCompare(y.client));
        expect(sorted).toEqual([ann, bob]);
        await broker.removePresence(c, 'c1');
        expect(await broker.presence(c)).toEqual([bob]);
        await broker.removePresence(c, 'c2');
        expect(await broker.presence(c)).toEqual([]);
      });
    });

    describe('nodes', () => {
      it('lists the node it registered, with the record it gave', async () => {
        const { broker } = await node();
        const id = randomUUID();
        await broker.registerNode(lease(id));
        const listed = (await broker.nodes()).filter((n) => n.node === id);
        expect(listed).toEqual([{ node: id, address: 'here', connections: 0 }]);
      });
    });

    describe('idempotent publish', () => {
      const once = (key: string) => ({ idempotencyKey: key, window: 60_000 });

      it('stores and delivers a repeated key once, answering the first offset', async () => {
        const { broker, log } = await node();
        const c = channel();
        await broker.subscribe(c);
        expect(await broker.publish(c, { payload: 'a' }, HISTORY, once('k1'))).toBe(1);
        expect(await broker.publish(c, { payload: 'b' }, HISTORY, once('k2'))).toBe(2);
        expect(await broker.publish(c, { payload: 'a again' }, HISTORY, once('k1'))).toBe(1);
        expect(await broker.publish(c, { payload: 'c' }, HISTORY)).toBe(3);
        await log.until(() => log.of(c).length === 3);
        expect(log.payloads(c)).toEqual(['a', 'b', 'c']);
        const page = await broker.history(c, {}, HISTORY);
        expect(page.publications.map((p) => p.payload)).toEqual(['a', 'b', 'c']);
      });

      it('keeps keys per channel: the same key on another channel is a new publication', async () => {
        const { broker } = await node();
        const [c1, c2] = [channel(), channel()];
        expect(await broker.publish(c1, { payload: 1 }, HISTORY, once('same'))).toBe(1);
        expect(await broker.publish(c2, { payload: 1 }, HISTORY, once('same'))).toBe(1);
        expect((await broker.history(c2, {}, HISTORY)).publications).toHaveLength(1);
      });

      it('delivers a repeated key once on a channel without history', async () => {
        const { broker, log } = await node();
        const c = channel();
        await broker.subscribe(c);
        expect(await broker.publish(c, { payload: 'x' }, null, once('k'))).toBeNull();
        expect(await broker.publish(c, { payload: 'x' }, null, once('k'))).toBeNull();
        expect(await broker.publish(c, { payload: 'y' }, null, once('k2'))).toBeNull();
        await log.until(() => log.of(c).length === 2);
        expect(log.payloads(c)).toEqual(['x', 'y']);
      });

      it('answers concurrent repeats of one key with one offset', async () => {
        const { broker } = await node();
        const c = channel();
        const offsets = await Promise.all(Array.from({ length: 20 }, () => broker.publish(c, { payload: 'same' }, HISTORY, once('race'))));
        expect(new Set(offsets)).toEqual(new Set([1]));
        expect((await broker.history(c, {}, HISTORY)).publications).toHaveLength(1);
      });

      if (harness.multiNode) {
        it('deduplicates a key across nodes', async () => {
          const a = await node();
          const b = await node();
          const c = channel();
          expect(await a.broker.publish(c, { payload: 'p' }, HISTORY, once('k'))).toBe(1);
          expect(await b.broker.publish(c, { payload: 'p' }, HISTORY, once('k'))).toBe(1);
          expect((await b.broker.history(c, {}, HISTORY)).publications).toHaveLength(1);
        });
      }
    });

    describe('presence per user', () => {
      it('counts a user’s connections as they come and go, and answers counts', async () => {
        const { broker } = await node();
        const c = channel();
        expect(await broker.addPresence(c, { client: 'c1', user: 'ann', info: null })).toBe(1);
        expect(await broker.addPresence(c, { client: 'c2', user: 'ann', info: null })).toBe(2);
        // A refresh of a present connection is not a new one.
        expect(await broker.addPresence(c, { client: 'c2', user: 'ann', info: null })).toBe(2);
        expect(await broker.addPresence(c, { client: 'c3', user: 'bob', info: null })).toBe(1);
        expect(await broker.addPresence(c, { client: 'c4', user: null, info: null })).toBe(1);
        expect(await broker.presenceCount(c)).toEqual({ clients: 4, users: 2 });
        expect(await broker.removePresence(c, 'c1', 'ann')).toBe(1);
        expect(await broker.removePresence(c, 'c2', 'ann')).toBe(0);
        expect(await broker.removePresence(c, 'c4', null)).toBe(0);
        expect(await broker.presenceCount(c)).toEqual({ clients: 1, users: 1 });
      });
    });

    if (harness.multiNode)
      describe('several nodes', () => {
        it('lists every live node, and not one that closed', async () => {
          const a = await node();
          const b = await node();
          const [idA, idB] = [randomUUID(), randomUUID()];
          await a.broker.registerNode(lease(idA));
          await b.broker.registerNode(lease(idB));
          const ours = async (broker: Broker) =>
            (await broker.nodes())
              .map((n) => n.node)
              .filter((id) => id === idA || id === idB)
              .sort();
          expect(await ours(a.broker)).toEqual([idA, idB].sort());
          expect(await ours(b.broker)).toEqual([idA, idB].sort());
          await a.broker.close();
          expect(await ours(b.broker)).toEqual([idB]);
        });

        it.runIf(harness.crash !== undefined)('takes a dead node’s presence out within its ttl, and hands each entry to exactly one survivor', async () => {
          const ttl = 1_000;
          const dying = await node();
          const survivors = [await node(), await node()];
          const orphans: Array<{ channel: string; entries: PresenceEntry[]; left: number[] }> = [];
          const arrivals = new EventLog(); // woken at each hand-over
          await dying.broker.registerNode(lease(randomUUID(), ttl));
          for (const survivor of survivors) {
            await survivor.broker.registerNode(
              lease(randomUUID(), ttl, (channel, entries, left) => {
                orphans.push({ channel, entries, left });
                arrivals.handler(channel, { kind: 'interrupted' });
              }),
            );
          }
          const [c1, c2] = [channel(), channel()];
          const ann = { client: `ann-${randomUUID()}`, user: 'ann', info: null };
          const bob = { client: `bob-${randomUUID()}`, user: 'bob', info: { n: 1 } };
          await dying.broker.addPresence(c1, ann);
          await dying.broker.addPresence(c1, bob);
          await dying.broker.addPresence(c2, ann);
          const kept = { client: `kept-${randomUUID()}`, user: null, info: null };
          await survivors[0]!.broker.addPresence(c1, kept);
          // Ann is also connected to a survivor on c2: she has not left c2.
          const annAlive = { client: `ann-alive-${randomUUID()}`, user: 'ann', info: null };
          await survivors[0]!.broker.addPresence(c2, annAlive);
          const crashedAt = Date.now();
          harness.crash!(dying.broker);
          const ours = () => orphans.filter((o) => o.channel === c1 || o.channel === c2);
          const clients = () =>
            ours()
              .flatMap((o) => o.entries.map((e) => `${o.channel}/${e.client}`))
              .sort();
          await arrivals.until(() => clients().length >= 3, ttl * 3);
          const took = Date.now() - crashedAt;
          expect(took).toBeLessThanOrEqual(ttl + 500);
          expect(clients()).toEqual([`${c1}/${ann.client}`, `${c1}/${bob.client}`, `${c2}/${ann.client}`].sort());
          expect(
            ours()
              .find((o) => o.channel === c1)!
              .entries.find((e) => e.client === bob.client),
          ).toEqual(bob);
          expect(await survivors[1]!.broker.presence(c1)).toEqual([kept]);
          expect(await survivors[1]!.broker.presence(c2)).toEqual([annAlive]);
          // How many of each user's connections are left, per orphan.
          const leftOf = (c: string, client: string) => {
            const o = ours().find((x) => x.channel === c)!;
            return o.left[o.entries.findIndex((e) => e.client === client)];
          };
          expect([leftOf(c1, ann.client), leftOf(c1, bob.client), leftOf(c2, ann.client)]).toEqual([0, 0, 1]);
          // The dead node's connections no longer count for their users: ann's next one is her first.
          expect(await survivors[1]!.broker.addPresence(c1, { client: `ann-${randomUUID()}`, user: 'ann', info: null })).toBe(1);
          expect(await survivors[1]!.broker.presenceCount(c1)).toEqual({ clients: 2, users: 1 });
        });

        it('delivers one node’s publications to another, in order, with shared offsets', async () => {
          const a = await node();
          const b = await node();
          const c = channel();
          await b.broker.subscribe(c);
          for (let i = 1; i <= 10; i++) await a.broker.publish(c, { payload: i }, HISTORY);
          await b.log.until(() => b.log.of(c).length === 10);
          expect(b.log.payloads(c)).toEqual([...Array(10).keys()].map((i) => i + 1));
          expect(await b.broker.publish(c, { payload: 11 }, HISTORY)).toBe(11);
        });

        it('carries a message addressed to one node (its $node: channel) to that node alone', async () => {
          // How an HTTP-stream POST that reached another node gets to its session's node (core/mailbox.ts).
          const a = await node();
          const b = await node();
          const c = await node();
          const mailbox = `$node:${randomUUID()}`;
          await b.broker.subscribe(mailbox);
          await c.broker.subscribe(`$node:${randomUUID()}`);
          expect(await a.broker.publish(mailbox, { payload: { kind: 'http-stream', session: 's', frames: ['{"type":"ping"}'] } }, null)).toBeNull();
          await b.log.until(() => b.log.of(mailbox).length === 1);
          expect(b.log.payloads(mailbox)).toEqual([{ kind: 'http-stream', session: 's', frames: ['{"type":"ping"}'] }]);
          expect(c.log.events).toEqual([]);
          expect(await a.broker.history(mailbox, { limit: 10, readOnly: true }, HISTORY)).toMatchObject({ publications: [] });
        });

        it('shares presence between nodes', async () => {
          const a = await node();
          const b = await node();
          const c = channel();
          await a.broker.addPresence(c, { client: 'c1', user: 'u', info: null });
          expect(await b.broker.presence(c)).toEqual([{ client: 'c1', user: 'u', info: null }]);
        });
      });
  });
  // The same brokers under real servers: what section 14 asks of every broker.
  stateConformance(name, harness);
}
