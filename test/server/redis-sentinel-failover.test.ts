// A server on Redis Sentinel while its master fails: publishing stops with
// `unavailable` for a short window and resumes on the promoted replica,
// subscribers are told to reconnect (4000) and recover, and every
// publication that was acknowledged is in history afterwards.
import { afterEach, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.js';
import { startRedisSentinel, type RedisSentinelSet } from '../helpers/redis-sentinel.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { requireRedisServer } from '../helpers/services.js';

const available = requireRedisServer('Redis Sentinel', 6);
let set: RedisSentinelSet | null = null;
let srv: TestServer | null = null;
const clients: RawClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await srv?.close();
  await set?.close();
  srv = set = null;
});

async function serve(target: RedisSentinelSet): Promise<TestServer> {
  return startServer({
    redis: { sentinels: target.sentinels, name: target.name },
    namespaces: { '': { history: { size: 100_000, ttl: 600_000 } } },
    // The publisher below sends as fast as it is answered.
    limits: { messagesPerSecond: 100_000, burst: 100_000 },
  });
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function connect(url: string): Promise<RawClient> {
  const client = await RawClient.connect(url);
  clients.push(client);
  return client;
}

const failovers = {
  'the master is killed': async (target: RedisSentinelSet, master: number) => {
    await target.kill(master);
  },
  'SENTINEL FAILOVER promotes the replica': async (target: RedisSentinelSet) => {
    await target.failover();
  },
};

for (const [how, fail] of Object.entries(failovers)) {
  it.runIf(available)(
    `keeps every acknowledged publication when ${how}`,
    async () => {
      set = await startRedisSentinel();
      srv = await serve(set);
      const listener = await connect(srv.wsUrl);
      const { epoch } = await listener.ok({ type: 'subscribe', channel: 'news' });
      const publisher = await connect(srv.wsUrl);

      // Publish one at a time until told to stop, noting what was acknowledged and when.
      const acknowledged = new Map<number, string>();
      const errors = new Map<string, number>();
      const acks: number[] = [];
      let stop = false;
      let retryAfterError = Promise.resolve();
      // Settles with the loop's error (or null) and never rejects: a request
      // left unanswered when a failed test closes the clients must not surface
      // as an unhandled rejection in the next test.
      const publishing = (async () => {
        for (let i = 0; !stop; i++) {
          await retryAfterError;
          const reply = await publisher.request({ type: 'publish', channel: 'news', payload: `p${i}` });
          if (reply.ok) {
            acknowledged.set(reply.payload.offset as number, `p${i}`);
            acks.push(Date.now());
            retryAfterError = Promise.resolve();
          } else {
            errors.set(reply.error.code, (errors.get(reply.error.code) ?? 0) + 1);
            // A client's backoff after `unavailable`, so the window is not a busy loop.
            retryAfterError = new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      })().then(
        () => null,
        (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
      );
      const acked = (n: number) => expect.poll(() => acknowledged.size, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(n);

      // Stopped whatever happens, so that a failure leaves no loop publishing into the teardown.
      let failedAt = 0;
      try {
        await acked(50);
        const master = await set.masterPort();
        failedAt = Date.now();
        await fail(set, master);
        await set.failedOver(master);
        // The listener's node lost its pub/sub connection: it must say so (a
        // deadline, so that a hang says which step it was).
        expect((await within(listener.closed, 20_000, 'the listener’s 4000 close')).code).toBe(4000);
        const before = acknowledged.size;
        await acked(before + 50);
      } finally {
        stop = true;
      }
      const failure = await publishing;
      if (failure) throw failure;

      // The longest gap between two acknowledgements is the unavailable window.
      const gaps = acks.slice(1).map((at, i) => at - acks[i]!);
      const window = Math.max(...gaps.filter((_, i) => acks[i + 1]! >= failedAt));
      console.info(`${how}: longest gap between acknowledgements ${window} ms; errors ${JSON.stringify(Object.fromEntries(errors))}`);
      expect([...errors.keys()].filter((code) => code !== 'unavailable')).toEqual([]);
      expect(window).toBeLessThan(15_000);

      const reader = await connect(srv.wsUrl);
      const page = await reader.ok({ type: 'history', channel: 'news', limit: 100_000, since: { epoch, offset: 0 } });
      expect(page.epoch).toBe(epoch);
      const held = new Map((page.publications as Array<{ offset: number; payload: string }>).map((p) => [p.offset, p.payload]));
      const lost = [...acknowledged].filter(([offset, payload]) => held.get(offset) !== payload);
      expect(lost).toEqual([]);
      // And a subscriber that comes back recovers from where it was.
      const back = await connect(srv.wsUrl);
      expect(await back.ok({ type: 'subscribe', channel: 'news', since: { epoch, offset: 0 } })).toMatchObject({ epoch, recovered: true });
    },
    60_000,
  );
}

// ioredis's failover detector hears Sentinel's +switch-master and cuts the
// connection to the old master short; if that connection is already
// reconnecting and waiting for a sentinel's answer (a sentinel that answers
// slowly: stopped here, loaded in CI), ioredis gives the connection up for
// good. The node then never had both connections back, never told its
// clients (4000) and never published again: a silent gap.
it.runIf(available)(
  'tells its clients to reconnect when the failover cuts a reconnect short',
  async () => {
    set = await startRedisSentinel();
    // A sentinel that does not answer holds the node's reconnect for the broker timeout.
    srv = await startServer({ redis: { sentinels: set.sentinels, name: set.name }, brokerTimeout: 10_000 });
    const listener = await connect(srv.wsUrl);
    const { epoch } = await listener.ok({ type: 'subscribe', channel: 'news' });
    const publisher = await connect(srv.wsUrl);
    expect(await publisher.ok({ type: 'publish', channel: 'news', payload: 'before' })).toMatchObject({ offset: 1 });
    await listener.next((f) => f.type === 'message' && f.payload === 'before');
    const master = await set.masterPort();
    // The node asks the sentinels in order, the first one first.
    const slow = set.sentinels[0]!.port;
    set.pause(slow);
    try {
      await set.kill(master);
      // The other two elect a leader and promote the replica while the node's reconnect waits for the first.
      await set.failedOver(master, slow);
    } finally {
      set.resume(slow);
    }
    expect((await within(listener.closed, 30_000, 'the listener’s 4000 close')).code).toBe(4000);
    // Both connections are back: publishing works and the listener recovers.
    await expect
      .poll(async () => (await publisher.request({ type: 'publish', channel: 'news', payload: 'after' })).ok, { timeout: 20_000, interval: 100 })
      .toBe(true);
    const back = await connect(srv.wsUrl);
    expect(await back.ok({ type: 'subscribe', channel: 'news', since: { epoch, offset: 1 } })).toMatchObject({ epoch, recovered: true });
    await back.next((f) => f.type === 'message' && f.payload === 'after');
    // And live delivery works again on the subscriber connection.
    expect(await publisher.ok({ type: 'publish', channel: 'news', payload: 'live' })).toHaveProperty('offset');
    await back.next((f) => f.type === 'message' && f.payload === 'live');
    // The node's own subscription (the control channel) was carried over too.
    expect(await srv.server.disconnect({ client: back.welcome.payload.client }, 4003, 'bye')).toBe(1);
    expect((await back.closed).code).toBe(4003);
  },
  90_000,
);

// Replication is asynchronous: a publication the master acknowledged before
// its replica had it would be lost if that replica were promoted. WAIT keeps
// such a publication from being acknowledged at all.
it.runIf(available)(
  'does not acknowledge a publication the replica does not confirm',
  async () => {
    set = await startRedisSentinel();
    srv = await serve(set);
    const publisher = await connect(srv.wsUrl);
    expect(await publisher.ok({ type: 'publish', channel: 'news', payload: 'replicated' })).toMatchObject({ offset: 1 });
    // A replica that is attached but silent (stalled, or a network that drops packets).
    set.pause(set.started.replica);
    const reply = await publisher.request({ type: 'publish', channel: 'news', payload: 'unconfirmed' });
    expect(reply.ok).toBe(false);
    expect(reply.error.code).toBe('unavailable');
    expect(reply.error.message).toContain('0 of 1 replicas confirmed');
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_limit_hits_total\{limit="replicaWait"\} 1/);
    // Back in time, the replica confirms again.
    set.resume(set.started.replica);
    await expect.poll(async () => (await publisher.request({ type: 'publish', channel: 'news', payload: 'later' })).ok, { timeout: 10_000 }).toBe(true);
  },
  30_000,
);
