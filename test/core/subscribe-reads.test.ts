// A reconnect storm's resubscribes of one channel share one history read
// (src/server/core/subscribe-reads.ts), and recovery stays exact: every
// subscriber gets exactly the publications it missed, once and in order,
// including those published while the shared read was on its way back, and a
// subscribe asked while a read is in flight waits for a read of its own.
import { afterEach, expect, it } from 'vitest';
import type { Broker, HistoryPolicy, Publication } from '../../src/brokers/broker.js';
import { DelegatingBroker, type BrokerOperation } from '../../src/brokers/delegating.js';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { jsonCodec } from '../../src/protocol/codec.js';
import { ANONYMOUS } from '../../src/server/auth.js';
import { parseConfig } from '../../src/server/config.js';
import type { Core } from '../../src/server/core/index.js';
import { FakeTransport } from '../helpers/fake-transport.js';
import { makeCore, sessionOf } from './harness.js';

const HISTORY: HistoryPolicy = { size: 100, ttl: 600_000 };
const CHANNEL = 'storm';
const K = 20;

/** A real broker that counts history reads, and can hold their answers (read, not yet back) until released. */
class CountedReads extends DelegatingBroker {
  reads = 0;
  private hold: Promise<void> | null = null;
  private release: (() => void) | null = null;
  private readListeners: Array<() => void> = [];

  constructor(readonly memory: MemoryBroker) {
    super(memory);
  }

  protected override async around<T>(operation: BrokerOperation, call: () => Promise<T>): Promise<T> {
    if (operation !== 'history') return call();
    this.reads++;
    const answer = await call();
    for (const listener of this.readListeners.splice(0)) listener();
    if (this.hold) await this.hold;
    return answer;
  }

  /** The next history read has been answered by the broker (and is held, if holding). */
  nextRead(): Promise<void> {
    return new Promise((resolve) => this.readListeners.push(resolve));
  }

  holdAnswers(): void {
    this.hold = new Promise((resolve) => (this.release = resolve));
  }

  releaseAnswers(): void {
    this.release?.();
    this.hold = this.release = null;
  }
}

/** A transport that says when a frame it was sent matches. */
class Watched extends FakeTransport {
  private waiters: Array<{ test: (frame: Record<string, any>) => boolean; resolve: (frame: Record<string, any>) => void }> = [];

  override send(data: string | Uint8Array): void {
    super.send(data);
    const frame = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString());
    this.waiters = this.waiters.filter((waiter) => !(waiter.test(frame) && (waiter.resolve(frame), true)));
  }

  until(test: (frame: Record<string, any>) => boolean): Promise<Record<string, any>> {
    const sent = this.frames().find(test);
    if (sent) return Promise.resolve(sent);
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  offsets(): number[] {
    return this.frames()
      .filter((f) => f.type === 'message' && f.channel === CHANNEL)
      .map((f) => f.offset);
  }
}

let core: Core | null = null;
afterEach(async () => {
  await core?.stop();
  core = null;
});

async function setup(): Promise<{ broker: CountedReads; publish: (n: number) => Promise<number>; epoch: string }> {
  const broker = new CountedReads(new MemoryBroker());
  core = makeCore(parseConfig({ namespaces: { '': { history: HISTORY } } }), broker as Broker);
  await core.start();
  const publish = async (n: number) => (await broker.memory.publish(CHANNEL, { payload: n } satisfies Publication, HISTORY))!;
  for (let n = 1; n <= 30; n++) await publish(n);
  const { epoch } = await broker.memory.history(CHANNEL, { limit: 0 }, HISTORY);
  return { broker, publish, epoch };
}

/** A connection that asks to subscribe with `frame`'s fields; resolves with its transport once the subscribe is sent. */
function subscriber(fields: Record<string, unknown>): Watched {
  const transport = new Watched();
  const session = sessionOf(core!.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
  core!.message(session, Buffer.from(JSON.stringify({ type: 'subscribe', id: 1, channel: CHANNEL, ...fields })), false);
  return transport;
}

const reply = (transport: Watched) => transport.until((f) => f.type === 'reply' && f.id === 1).then((f) => f.payload);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

it(`${K} resubscribes of one channel asked together: one history read, and each gets exactly what it missed`, async () => {
  const { broker, publish, epoch } = await setup();
  broker.holdAnswers();
  // Each was last at a different offset; all ask in the same turn, as a storm's do.
  const clients = range(1, K).map((i) => subscriber({ since: { epoch, offset: i } }));
  await broker.nextRead();
  // Published while the read's answer is on its way back: only the live buffers have these.
  await publish(31);
  await publish(32);
  broker.releaseAnswers();
  const replies = await Promise.all(clients.map(reply));
  // Published after the replies: live delivery, each once.
  await publish(33);
  await Promise.all(clients.map((client) => client.until((f) => f.type === 'message' && f.offset === 33)));

  expect(broker.reads).toBe(1);
  clients.forEach((client, i) => {
    expect(replies[i]).toEqual({ channel: CHANNEL, epoch, offset: 30, recovered: true });
    expect(client.offsets()).toEqual(range(i + 2, 33));
  });
});

it('a batch of positions, another epoch, a rewind and a plain subscribe: each answered as if it read alone', async () => {
  const { broker, publish, epoch } = await setup();
  const near = subscriber({ since: { epoch, offset: 28 } });
  const far = subscriber({ since: { epoch, offset: 10 } });
  const caughtUp = subscriber({ since: { epoch, offset: 30 } });
  const ahead = subscriber({ since: { epoch, offset: 31 } });
  const restarted = subscriber({ since: { epoch: 'before-a-restart', offset: 5 } });
  const rewound = subscriber({ rewind: 3 });
  const plain = subscriber({});
  const all = [near, far, caughtUp, ahead, restarted, rewound, plain];
  const replies = await Promise.all(all.map(reply));
  await publish(31);
  await Promise.all(all.map((client) => client.until((f) => f.type === 'message' && f.offset === 31)));

  // One read per epoch asked from, one for the rewind (which the plain subscribe shares).
  expect(broker.reads).toBe(3);
  expect(replies).toEqual([
    { channel: CHANNEL, epoch, offset: 30, recovered: true },
    { channel: CHANNEL, epoch, offset: 30, recovered: true },
    { channel: CHANNEL, epoch, offset: 30, recovered: true },
    { channel: CHANNEL, epoch, offset: 30, recovered: false },
    { channel: CHANNEL, epoch, offset: 30, recovered: false },
    { channel: CHANNEL, epoch, offset: 27, recovered: false },
    { channel: CHANNEL, epoch, offset: 30, recovered: false },
  ]);
  expect(near.offsets()).toEqual([29, 30, 31]);
  expect(far.offsets()).toEqual(range(11, 31));
  expect(caughtUp.offsets()).toEqual([31]);
  expect(ahead.offsets()).toEqual([31]);
  expect(restarted.offsets()).toEqual([31]);
  expect(rewound.offsets()).toEqual([28, 29, 30, 31]);
  expect(plain.offsets()).toEqual([31]);
});

it('a subscribe asked while a read is in flight waits for the next read, and misses nothing published between the two', async () => {
  const { broker, publish, epoch } = await setup();
  // An earlier subscriber, live: it shows when a publication has reached this node.
  const watcher = subscriber({});
  await reply(watcher);
  const readsBefore = broker.reads;
  broker.holdAnswers();
  const first = range(1, 5).map((i) => subscriber({ since: { epoch, offset: 25 + i } }));
  await broker.nextRead();
  // After the first read ran and before the late ones asked: not in that read's page,
  // nor in the late ones' buffers. A late subscribe served by the first read would miss it.
  await publish(31);
  await watcher.until((f) => f.type === 'message' && f.offset === 31);
  const late = range(1, 5).map((i) => subscriber({ since: { epoch, offset: 20 + i } }));
  await publish(32);
  broker.releaseAnswers();
  await Promise.all([...first, ...late].map(reply));
  await Promise.all([...first, ...late].map((client) => client.until((f) => f.type === 'message' && f.offset === 32)));

  expect(broker.reads - readsBefore).toBe(2);
  first.forEach((client, i) => expect(client.offsets()).toEqual(range(27 + i, 32)));
  late.forEach((client, i) => expect(client.offsets()).toEqual(range(22 + i, 32)));
});

it('a read that fails fails each subscribe that shared it, and the next subscribe reads again', async () => {
  const broker = new CountedReads(new MemoryBroker());
  let failures = 1;
  const inner = broker.memory;
  const history = inner.history.bind(inner);
  inner.history = async (...args) => {
    if (failures-- > 0) throw new Error('broker unavailable: test');
    return history(...args);
  };
  core = makeCore(parseConfig({ namespaces: { '': { history: HISTORY } } }), broker as Broker);
  await core.start();
  const failed = range(1, 3).map(() => subscriber({ since: { epoch: 'e', offset: 1 } }));
  const errors = await Promise.all(failed.map((client) => client.until((f) => f.type === 'reply' && f.id === 1)));
  expect(errors.map((f) => f.ok)).toEqual([false, false, false]);
  expect(broker.reads).toBe(1);
  const again = subscriber({});
  expect(await reply(again)).toMatchObject({ channel: CHANNEL, offset: 0, recovered: false });
  expect(broker.reads).toBe(2);
});
