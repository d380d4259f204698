// Section 14 of the contract (rewind, presence updates) end to end on every
// broker: real servers on the broker under test, real sockets. Where the
// broker has several nodes, the publisher or the updater is on another node
// than the one who watches.
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { RawClient, type Frame } from '../helpers/raw-client.js';
import type { BrokerHarness } from './conformance.js';

const HISTORY_SIZE = 50;
const namespaces = {
  '': { subscribe: 'anyone', publish: 'anyone', history: { size: HISTORY_SIZE, ttl: 600_000 } },
  room: { subscribe: 'anyone', publish: 'anyone', presence: true, joinLeave: true },
  doc: { subscribe: 'anyone', publish: 'anyone', delta: 'fossil', history: { size: HISTORY_SIZE, ttl: 600_000 } },
} as const;

/** Offsets of `client`'s messages on `channel`, in arrival order. */
export function offsetsOf(client: RawClient, channel: string): number[] {
  return client.messages(channel).map((m) => m.offset as number);
}

/** True when `offsets` are exactly from+1, from+2, ..., to: nothing missing, nothing twice, in order. */
export function contiguous(offsets: number[], from: number, to: number): boolean {
  return offsets.length === to - from && offsets.every((offset, i) => offset === from + 1 + i);
}

export function stateConformance(name: string, harness: BrokerHarness): void {
  describe(`${name} broker: state with the subscription (section 14)`, () => {
    const servers: TestServer[] = [];
    const clients: RawClient[] = [];
    const channel = (namespace = '') => `${namespace ? `${namespace}:` : ''}state-${randomUUID()}`;

    /** One server per node; on a single-node broker both names are the same server. */
    async function nodes(): Promise<[TestServer, TestServer]> {
      const a = await startServer({ broker: await harness.make(), namespaces });
      servers.push(a);
      if (!harness.multiNode) return [a, a];
      const b = await startServer({ broker: await harness.make(), namespaces });
      servers.push(b);
      return [a, b];
    }

    async function connect(server: TestServer): Promise<RawClient> {
      const client = await RawClient.connect(server.wsUrl);
      clients.push(client);
      return client;
    }

    afterEach(async () => {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await Promise.all(servers.splice(0).map((s) => s.close()));
    });

    it('rewinds the last n publications, oldest first, then live ones', async () => {
      const [a, b] = await nodes();
      const c = channel();
      const publisher = await connect(a);
      for (let i = 1; i <= 6; i++) await publisher.ok({ type: 'publish', channel: c, payload: { i } });
      const watcher = await connect(b);
      const reply = await watcher.ok({ type: 'subscribe', channel: c, rewind: 4 });
      expect(reply).toMatchObject({ channel: c, offset: 2, recovered: false });
      await publisher.ok({ type: 'publish', channel: c, payload: { i: 7 } });
      await watcher.next((f) => f.type === 'message' && f.offset === 7);
      expect(watcher.messages(c).map((m) => [m.offset, m.payload.i])).toEqual([
        [3, 3],
        [4, 4],
        [5, 5],
        [6, 6],
        [7, 7],
      ]);
      // The messages come after the reply: an app that sees the reply first knows where they start.
      const order = watcher.frames.filter((f) => f.type === 'reply' || f.type === 'message').map((f) => f.type);
      expect(order.indexOf('reply')).toBeLessThan(order.indexOf('message'));
    });

    it('rewinds what there is when the channel holds fewer than n', async () => {
      const [a, b] = await nodes();
      const c = channel();
      const publisher = await connect(a);
      await publisher.ok({ type: 'publish', channel: c, payload: 'only' });
      const watcher = await connect(b);
      expect(await watcher.ok({ type: 'subscribe', channel: c, rewind: HISTORY_SIZE })).toMatchObject({ offset: 0 });
      await watcher.next((f) => f.type === 'message' && f.offset === 1);
      expect(watcher.messages(c).map((m) => m.payload)).toEqual(['only']);
    });

    it('misses nothing and sends nothing twice while publications race rewinding subscribes', async () => {
      const [a, b] = await nodes();
      const c = channel();
      const total = 300;
      const watchers = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connect(b)));
      // Neither publications nor subscribes are waited for, and the loop yields
      // to I/O now and then: publications land while each subscribe reads history.
      const published: Promise<unknown>[] = [];
      const subscribed: Promise<Frame>[] = [];
      for (let i = 1; i <= total; i++) {
        published.push(a.server.publish(c, i));
        if (i % 50 === 25) subscribed.push(watchers[Math.floor(i / 50)]!.ok({ type: 'subscribe', channel: c, rewind: 20 }));
        if (i % 5 === 0) await new Promise(setImmediate);
      }
      const replies = await Promise.all(subscribed);
      await Promise.all(published);
      for (const [i, watcher] of watchers.entries()) {
        await watcher.next((f) => f.type === 'message' && f.offset === total);
        const offsets = offsetsOf(watcher, c);
        const start = replies[i]!.offset as number;
        expect(contiguous(offsets, start, total), `watcher ${i} from ${start}: ${offsets.join(',')}`).toBe(true);
      }
    });

    it('updates presence info: join/leave subscribers get presence_update and presence shows it', async () => {
      const [a, b] = await nodes();
      const c = channel('room');
      const watcher = await connect(b);
      await watcher.ok({ type: 'subscribe', channel: c });
      const mover = await connect(a);
      await mover.ok({ type: 'subscribe', channel: c });
      const id = mover.welcome.payload.client as string;
      expect(await mover.ok({ type: 'presence_update', channel: c, info: { status: 'away' } })).toEqual({});
      const update = await watcher.next((f) => f.type === 'presence_update');
      expect(update).toEqual({ type: 'presence_update', channel: c, payload: { client: id, user: null, info: { status: 'away' } } });
      const { clients: present } = await watcher.ok({ type: 'presence', channel: c });
      expect(present.find((e: Frame) => e.client === id)).toEqual({ client: id, user: null, info: { status: 'away' } });
      // The updater hears its own update too, as it hears its own join.
      await mover.next((f) => f.type === 'presence_update');
    });

    it('updates a client’s presence from the server, on whichever node the client is', async () => {
      const [a, b] = await nodes();
      const c = channel('room');
      const watcher = await connect(a);
      await watcher.ok({ type: 'subscribe', channel: c });
      const mover = await connect(b);
      await mover.ok({ type: 'subscribe', channel: c });
      const id = mover.welcome.payload.client as string;
      expect(await a.server.updatePresence({ client: id }, c, { seat: 3 })).toBe(1);
      expect(await watcher.next((f) => f.type === 'presence_update')).toMatchObject({ payload: { client: id, info: { seat: 3 } } });
      expect((await a.server.presence(c)).clients).toContainEqual({ client: id, user: null, info: { seat: 3 } });
    });

    it('sends Fossil deltas of publications made on another node, and whole payloads to those who did not ask', async () => {
      const [a, b] = await nodes();
      const c = channel('doc');
      const asked = await connect(b);
      await asked.ok({ type: 'subscribe', channel: c, delta: 'fossil' });
      const plain = await connect(b);
      await plain.ok({ type: 'subscribe', channel: c });
      const doc = (tick: number) => ({ tick, rows: Array.from({ length: 30 }, (_, i) => ({ row: i, text: `row number ${i}` })) });
      for (let tick = 1; tick <= 3; tick++) await a.server.publish(c, doc(tick));
      await asked.next((f) => f.type === 'message' && f.offset === 3);
      await plain.next((f) => f.type === 'message' && f.offset === 3);
      expect(asked.messages(c).map((m) => m.delta === true)).toEqual([false, true, true]);
      expect(plain.messages(c).map((m) => m.payload)).toEqual([1, 2, 3].map(doc));
    });
  });
}
