// Conformance of the brokers' event ledger (broker.ts, EventLedger): the
// cluster-wide tallies behind user.online/offline and channel.occupied/vacated,
// and the webhook queues. Every test uses its own users, channels and queues.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Broker, EventRoutes, NodeLease, QueuedEvent, TallyMember } from '../../src/brokers/broker.js';
import type { BrokerHarness } from './conformance.js';

const TYPES = ['user.online', 'user.offline', 'channel.occupied', 'channel.vacated', 'client.connected'];

/** Routes sending every type to one fresh queue. */
function routesTo(queue: string, bound = 1_000): EventRoutes {
  return { queues: Object.fromEntries(TYPES.map((type) => [type, [queue]])), bound };
}

/** Everything in the queue, oldest first, taking each off (as a delivering node does). */
async function drain(broker: Broker, queue: string, node = 'reader'): Promise<QueuedEvent[]> {
  const events: QueuedEvent[] = [];
  for (let head = await broker.ledger.claimHead(queue, node, 5_000); head; head = await broker.ledger.claimHead(queue, node, 5_000)) {
    events.push(head);
    await broker.ledger.ack(queue, head.id);
  }
  return events;
}

const summary = (events: QueuedEvent[]) => events.map((e) => `${e.type} ${JSON.stringify(e.data)}`);

export function ledgerConformance(harness: BrokerHarness, node: () => Promise<{ broker: Broker }>, lease: (id: string, ttl: number) => NodeLease): void {
  describe('event ledger', () => {
    it('queues a rise at the first member and a fall once the last has been gone for the grace', async () => {
      const { broker } = await node();
      const queue = `q-${randomUUID()}`;
      const routes = routesTo(queue);
      const user = `u-${randomUUID()}`;
      const a: TallyMember = { scope: 'user', key: user, member: 'a' };
      const b: TallyMember = { scope: 'user', key: user, member: 'b' };
      expect((await broker.ledger.tallyAdd(a, routes)).count).toBe(1);
      expect((await broker.ledger.tallyAdd(b, routes)).count).toBe(2);
      expect((await broker.ledger.tallyAdd(b, routes)).count).toBe(2); // a repeat is no change
      expect((await broker.ledger.tallyRemove(a, 0, routes)).count).toBe(1);
      expect(summary(await drain(broker, queue))).toEqual([`user.online {"user":"${user}"}`]);
      // The last one goes; back within the grace: nothing; gone past it: one fall.
      await broker.ledger.tallyRemove(b, 60_000, routes);
      await broker.ledger.tallyAdd(b, routes);
      await broker.ledger.tallyRemove(b, 60_000, routes);
      await broker.ledger.settleTallies(routes);
      expect(await drain(broker, queue)).toEqual([]);
      await broker.ledger.tallyAdd(a, routes);
      await broker.ledger.tallyRemove(a, 0, routes);
      await broker.ledger.settleTallies(routes);
      const events = await drain(broker, queue);
      expect(summary(events)).toEqual([`user.offline {"user":"${user}"}`]);
      expect(events[0]!.id).toMatch(/^msg_/);
      expect(Math.abs(events[0]!.at - Date.now())).toBeLessThan(60_000);
    });

    it('refuses a member over the limit, and counts a repeat of a member already in', async () => {
      const { broker } = await node();
      const routes = routesTo(`q-${randomUUID()}`);
      const key = `u-${randomUUID()}`;
      expect((await broker.ledger.tallyAdd({ scope: 'user', key, member: 'a' }, routes, 2)).count).toBe(1);
      expect((await broker.ledger.tallyAdd({ scope: 'user', key, member: 'b' }, routes, 2)).count).toBe(2);
      expect((await broker.ledger.tallyAdd({ scope: 'user', key, member: 'c' }, routes, 2)).count).toBe(-1);
      expect((await broker.ledger.tallyAdd({ scope: 'user', key, member: 'b' }, routes, 2)).count).toBe(2);
    });

    it('keeps a queue in order, drops the oldest past the bound and says how many', async () => {
      const { broker } = await node();
      const queue = `q-${randomUUID()}`;
      const events = [1, 2, 3, 4, 5].map((n): QueuedEvent => ({ id: `msg_${randomUUID()}`, type: 'client.connected', at: n, data: { n } }));
      expect(await broker.ledger.enqueue(events, routesTo(queue, 3))).toBe(2);
      expect(await broker.ledger.queued([queue])).toBe(3);
      expect(await drain(broker, queue)).toEqual(events.slice(2));
      // A type no queue wants goes nowhere.
      expect(await broker.ledger.enqueue([{ ...events[0]!, type: 'presence.join' }], routesTo(queue))).toBe(0);
      expect(await broker.ledger.queued([queue])).toBe(0);
    });

    it('hands a queue’s head to one node at a time, and keeps it until acknowledged', async () => {
      const { broker } = await node();
      const queue = `q-${randomUUID()}`;
      const event: QueuedEvent = { id: `msg_${randomUUID()}`, type: 'client.connected', at: 1, data: {} };
      await broker.ledger.enqueue([event], routesTo(queue));
      expect(await broker.ledger.claimHead(queue, 'one', 60_000)).toEqual(event);
      expect(await broker.ledger.claimHead(queue, 'two', 60_000)).toBeNull();
      expect(await broker.ledger.claimHead(queue, 'one', 60_000)).toEqual(event); // a retry sends the same event
      await broker.ledger.ack(queue, 'msg_not-the-head');
      expect(await broker.ledger.queued([queue])).toBe(1);
      await broker.ledger.ack(queue, event.id);
      expect(await broker.ledger.queued([queue])).toBe(0);
    });

    it('holds revocations by user (tokens issued before) and by jti, until they expire, within a bound', async () => {
      const { broker } = await node();
      const [user, jti] = [`u-${randomUUID()}`, `j-${randomUUID()}`];
      expect(await broker.ledger.isRevoked(user, 100, null)).toBe(false);
      const before = await broker.ledger.revocations();
      expect(await broker.ledger.revoke({ user, before: 200 }, 60_000, 1_000_000)).toBe(true);
      expect(await broker.ledger.revoke({ user, before: 150 }, 60_000, 1_000_000)).toBe(true); // an earlier before does not shorten it
      expect(await broker.ledger.isRevoked(user, 199, null)).toBe(true);
      expect(await broker.ledger.isRevoked(user, 200, null)).toBe(false);
      expect(await broker.ledger.isRevoked(user, null, null)).toBe(true);
      expect(await broker.ledger.revoke({ jti }, 60_000, 1_000_000)).toBe(true);
      expect(await broker.ledger.isRevoked(`u-${randomUUID()}`, 300, jti)).toBe(true);
      expect(await broker.ledger.revocations()).toBeGreaterThanOrEqual(before + 2);
      // A short one expires by itself.
      const gone = `j-${randomUUID()}`;
      await broker.ledger.revoke({ jti: gone }, 50, 1_000_000);
      const deadline = Date.now() + 5_000;
      while ((await broker.ledger.isRevoked('x', 1, gone)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20)); // expiry is time itself
      expect(await broker.ledger.isRevoked('x', 1, gone)).toBe(false);
      // Past the bound a new one is refused; one already held may still be extended.
      const held = await broker.ledger.revocations();
      expect(await broker.ledger.revoke({ jti: `j-${randomUUID()}` }, 60_000, held)).toBe(false);
      expect(await broker.ledger.revoke({ jti }, 60_000, held)).toBe(true);
    });

    if (harness.multiNode) {
      it('queues one rise and one fall when two nodes race on one key', async () => {
        const [a, b] = [await node(), await node()];
        const queue = `q-${randomUUID()}`;
        const routes = routesTo(queue);
        const channel = `c-${randomUUID()}`;
        const members = [...Array(10).keys()].map((i): TallyMember => ({ scope: 'channel', key: channel, member: `m${i}` }));
        await Promise.all(members.map((m, i) => (i % 2 ? a : b).broker.ledger.tallyAdd(m, routes)));
        await Promise.all(members.map((m, i) => (i % 2 ? b : a).broker.ledger.tallyRemove(m, 0, routes)));
        await Promise.all([a.broker.ledger.settleTallies(routes), b.broker.ledger.settleTallies(routes)]);
        expect(summary(await drain(b.broker, queue))).toEqual([`channel.occupied {"channel":"${channel}"}`, `channel.vacated {"channel":"${channel}"}`]);
      });

      it.runIf(harness.crash !== undefined)('takes a dead node’s members out within its ttl: its users and channels go down once', async () => {
        const ttl = 1_000;
        const [dying, survivor, other] = [await node(), await node(), await node()];
        const queue = `q-${randomUUID()}`;
        const routes = routesTo(queue);
        await dying.broker.registerNode(lease(randomUUID(), ttl));
        await survivor.broker.registerNode(lease(randomUUID(), ttl));
        await other.broker.registerNode(lease(randomUUID(), ttl));
        const [gone, stays, channel] = [`u-${randomUUID()}`, `u-${randomUUID()}`, `c-${randomUUID()}`];
        await dying.broker.ledger.tallyAdd({ scope: 'user', key: gone, member: 'x' }, routes);
        await dying.broker.ledger.tallyAdd({ scope: 'user', key: stays, member: 'y' }, routes);
        await survivor.broker.ledger.tallyAdd({ scope: 'user', key: stays, member: 'z' }, routes);
        await dying.broker.ledger.tallyAdd({ scope: 'channel', key: channel, member: 'x' }, routes);
        await survivor.broker.ledger.settleTallies(routes); // the survivors know the routes, as a server's settle timer tells them
        await other.broker.ledger.settleTallies(routes);
        expect(await drain(survivor.broker, queue)).toHaveLength(3);
        const crashedAt = Date.now();
        harness.crash!(dying.broker);
        const seen: QueuedEvent[] = [];
        while (seen.length < 2 && Date.now() - crashedAt < ttl * 3) {
          seen.push(...(await drain(survivor.broker, queue)));
          await new Promise((resolve) => setTimeout(resolve, 50)); // polling a queue, as the deliverer does
        }
        expect(Date.now() - crashedAt).toBeLessThanOrEqual(ttl + 1_000);
        expect(summary(seen).sort()).toEqual([`channel.vacated {"channel":"${channel}"}`, `user.offline {"user":"${gone}"}`]);
        expect((await other.broker.ledger.tallyAdd({ scope: 'user', key: stays, member: 'w' }, routes)).count).toBe(2);
      });
    }
  });
}
