// Exactly once from the sender: 5,000 publishes from the SDK through a TCP
// proxy that resets the connection at random points, including right after
// the server stored a publication and before its reply left. Every publish
// resolves, and the history holds each payload once, at the offset its
// publish resolved with.
import { afterEach, expect, it } from 'vitest';
import type { HistoryPolicy, Publication, PublishOptions } from '../../src/brokers/broker.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { connect } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const TOTAL = 5_000;
/** Publishes in flight at once: a cut catches many of them on the wire. */
const CONCURRENCY = 64;
const HISTORY = { size: 10_000, ttl: 600_000 };

/** A memory broker that, now and then, has the connection cut the moment a publication is stored. */
class CuttingBroker extends MemoryBroker {
  cutsAfterStore = 0;
  calls = 0;
  constructor(private readonly cut: () => void) {
    super();
  }
  override async publish(channel: string, publication: Publication, history: HistoryPolicy | null, options?: PublishOptions) {
    this.calls++;
    const offset = await super.publish(channel, publication, history, options);
    if (Math.random() < 0.01) {
      this.cutsAfterStore++;
      this.cut(); // stored, and the reply will never reach the client
    }
    return offset;
  }
}

let srv: TestServer | null = null;
let proxy: TcpProxy | null = null;
afterEach(async () => {
  await proxy?.close();
  await srv?.close();
  proxy = srv = null;
});

it('stores every resolved publish exactly once while the connection is cut at random points', async () => {
  const broker = new CuttingBroker(() => proxy?.cut());
  srv = await startServer({
    broker,
    limits: { messagesPerSecond: 100_000, burst: 100_000, requestsInFlight: 128 },
    namespaces: { '': { history: HISTORY } },
  });
  proxy = await TcpProxy.start(Number(new URL(srv.url).port));
  const client = connect(`ws://127.0.0.1:${proxy.port}${srv.server.config.path}`, { reconnect: { initialDelay: 5, maxDelay: 30 } });
  let drops = 0;
  client.on('disconnected', () => drops++);

  const offsets = new Map<number, number>();
  const failures: unknown[] = [];
  let next = 0;
  let resolved = 0;
  // Cuts from the client's side too: after a random number of replies, with publishes on the wire.
  let cutAt = 1 + Math.floor(Math.random() * 200);
  async function worker(): Promise<void> {
    while (next < TOTAL) {
      const i = next++;
      try {
        const { offset } = await client.publish('exactly', i);
        offsets.set(i, offset!);
      } catch (error) {
        failures.push(error);
      }
      if (++resolved === cutAt) {
        proxy?.cut();
        cutAt += 1 + Math.floor(Math.random() * 200);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  client.close();

  expect(failures).toEqual([]);
  expect(offsets.size).toBe(TOTAL);
  // The test exercised what it claims to: publications stored whose reply was lost, and resends.
  expect(broker.cutsAfterStore).toBeGreaterThan(10);
  expect(drops).toBeGreaterThan(30);
  expect(broker.calls).toBeGreaterThan(TOTAL);

  const page = await broker.history('exactly', {}, { ...HISTORY, bytes: 1 << 30 });
  const payloads = page.publications.map((p) => p.payload as number);
  expect(payloads).toHaveLength(TOTAL);
  expect(new Set(payloads).size).toBe(TOTAL);
  // Each payload sits at the offset its publish resolved with.
  for (const publication of page.publications) expect(offsets.get(publication.payload as number)).toBe(publication.offset);
}, 120_000);
