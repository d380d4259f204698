// Recovery after a reconnect with nothing missing and nothing twice, and each
// reason the server answers recovered: false.
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SlowAnswers } from '../helpers/slow-broker.js';

const TOTAL = 10_000;
const unlimited = { messagesPerSecond: 1_000_000, burst: 1_000_000 };

describe.each([
  ['the memory broker', () => new MemoryBroker()],
  ['a broker with slow history answers', () => new SlowAnswers(new MemoryBroker())],
])('resubscribing with since while 10,000 publications stream in, on %s', (_name, broker) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      broker: broker(),
      limits: unlimited,
      namespaces: { '': { history: { size: TOTAL, ttl: 600_000 } } },
    });
  });
  afterAll(() => srv.close());

  it('sees every offset exactly once, in order, across at least three reconnects', async () => {
    const channel = 'firehose';
    // Cut points chosen at random, in order, far enough apart to be distinct.
    const cuts = Array.from({ length: 4 }, (_, i) => 500 + i * 2_200 + Math.floor(Math.random() * 1_500));
    const seen: number[] = [];
    const replies: Array<{ recovered: boolean }> = [];
    let position: { epoch: string; offset: number } | null = null;
    let firstReply!: () => void;
    const subscribed = new Promise<void>((resolve) => (firstReply = resolve));

    const done = new Promise<void>((resolve, reject) => {
      const connect = () => {
        const ws = new WebSocket(srv.wsUrl);
        let dropped = false;
        ws.on('error', reject);
        ws.on('message', (data) => {
          if (dropped) return; // frames after we cut the connection never reach the app
          const frame = JSON.parse(data.toString());
          if (frame.type === 'welcome') {
            ws.send(JSON.stringify({ type: 'subscribe', id: 1, channel, ...(position ? { since: position } : {}) }));
          } else if (frame.type === 'reply') {
            if (!frame.ok) return reject(new Error(JSON.stringify(frame.error)));
            replies.push(frame.payload);
            position ??= { epoch: frame.payload.epoch, offset: frame.payload.offset };
            firstReply();
          } else if (frame.type === 'message') {
            seen.push(frame.offset);
            position = { epoch: position!.epoch, offset: frame.offset };
            if (frame.offset === TOTAL) resolve();
            else if (cuts.includes(frame.offset)) {
              // Drop the TCP connection without a close frame, as a network failure would.
              dropped = true;
              ws.terminate();
              connect();
            }
          }
        });
      };
      connect();
    });

    // Publish only once the first subscription is in place, so offset 1 is after it.
    await subscribed;
    // Pipelined in windows of 50, so publishing goes on while the subscriber
    // reconnects instead of finishing before the first cut.
    const publisher = await RawClient.connect(srv.wsUrl);
    for (let i = 1; i <= TOTAL; i += 50) {
      for (let j = i; j < i + 49; j++) publisher.send({ type: 'publish', channel, payload: j });
      await publisher.ok({ type: 'publish', channel, payload: i + 49 });
    }
    await done;

    expect(replies.length).toBe(cuts.length + 1);
    expect(replies.slice(1).every((r) => r.recovered)).toBe(true);
    expect(seen.length).toBe(TOTAL);
    expect(seen).toEqual(Array.from({ length: TOTAL }, (_, i) => i + 1));
    await publisher.close();
  }, 60_000);
});

describe('recovered: false', () => {
  let clock = 5_000_000;
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({
      broker: new MemoryBroker({ now: () => clock }),
      namespaces: {
        '': { history: { size: 3, ttl: 10_000 } },
        plain: {},
      },
    });
  });
  afterAll(() => srv.close());

  async function positionAfter(client: RawClient, channel: string, publications: number) {
    const { epoch } = await client.ok({ type: 'subscribe', channel });
    for (let i = 0; i < publications; i++) await client.ok({ type: 'publish', channel, payload: i });
    const { offset } = await client.ok({ type: 'publish', channel, payload: 'last' });
    await client.ok({ type: 'unsubscribe', channel });
    return { epoch, offset };
  }

  it('recovers when everything missed is held', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const position = await positionAfter(client, 'held', 0);
    const other = await RawClient.connect(srv.wsUrl);
    await other.ok({ type: 'publish', channel: 'held', payload: 'missed' });
    const reply = await client.ok({ type: 'subscribe', channel: 'held', since: position });
    expect(reply).toEqual({ channel: 'held', epoch: position.epoch, offset: position.offset + 1, recovered: true });
    const message = await client.next((f) => f.type === 'message' && f.payload === 'missed');
    expect(message.offset).toBe(position.offset + 1);
    await Promise.all([client.close(), other.close()]);
  });

  it('when the epoch changed (history lost, e.g. a restart)', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const { offset } = await positionAfter(client, 'restarted', 0);
    const reply = await client.ok({ type: 'subscribe', channel: 'restarted', since: { epoch: 'from-before-restart', offset } });
    expect(reply.recovered).toBe(false);
    await client.close();
  });

  it('when the missed publications were evicted by size', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const position = await positionAfter(client, 'crowded', 0);
    for (let i = 0; i < 4; i++) await client.ok({ type: 'publish', channel: 'crowded', payload: i });
    const reply = await client.ok({ type: 'subscribe', channel: 'crowded', since: position });
    expect(reply).toMatchObject({ recovered: false, offset: position.offset + 4 });
    await client.close();
  });

  it('when the missed publications expired by ttl', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const position = await positionAfter(client, 'stale', 0);
    await client.ok({ type: 'publish', channel: 'stale', payload: 'soon gone' });
    clock += 10_001;
    const reply = await client.ok({ type: 'subscribe', channel: 'stale', since: position });
    expect(reply.recovered).toBe(false);
    await client.close();
  });

  it('when the position is ahead of the channel', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const { epoch, offset } = await positionAfter(client, 'future', 0);
    const reply = await client.ok({ type: 'subscribe', channel: 'future', since: { epoch, offset: offset + 5 } });
    expect(reply.recovered).toBe(false);
    await client.close();
  });

  it('on channels without history', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.ok({ type: 'subscribe', channel: 'plain:x', since: { epoch: 'e', offset: 1 } });
    expect(reply).toEqual({ channel: 'plain:x', epoch: null, offset: null, recovered: false });
    await client.close();
  });

  it('and then delivers live publications from the reply offset on', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const reply = await client.ok({ type: 'subscribe', channel: 'crowded', since: { epoch: 'gone', offset: 1 } });
    await srv.server.publish('crowded', 'live');
    const message = await client.next((f) => f.type === 'message');
    expect(message.offset).toBe(reply.offset + 1);
    await client.close();
  });
});

describe('history', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ namespaces: { '': { history: { size: 5, ttl: 60_000 } }, plain: {} } });
  });
  afterAll(() => srv.close());

  it('keeps only the newest size publications', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    for (let i = 1; i <= 12; i++) await client.ok({ type: 'publish', channel: 'bounded', payload: i });
    const page = await client.ok({ type: 'history', channel: 'bounded' });
    expect(page.offset).toBe(12);
    expect(page.publications.map((p: any) => p.payload)).toEqual([8, 9, 10, 11, 12]);
    expect(page.publications[0]).toEqual({ offset: 8, payload: 8, from: { client: client.welcome.payload.client, user: null } });
    await client.close();
  });

  it('answers limit with the newest, and since with what follows it', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    for (let i = 1; i <= 4; i++) await client.ok({ type: 'publish', channel: 'paged', payload: i });
    const newest = await client.ok({ type: 'history', channel: 'paged', limit: 2 });
    expect(newest.publications.map((p: any) => p.offset)).toEqual([3, 4]);
    const after = await client.ok({ type: 'history', channel: 'paged', since: { epoch: newest.epoch, offset: 1 }, limit: 2 });
    expect(after.publications.map((p: any) => p.offset)).toEqual([2, 3]);
    await client.close();
  });

  it('is not_found on a channel without history, forbidden where subscribing is', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    expect((await client.request({ type: 'history', channel: 'plain:x' })).error.code).toBe('not_found');
    expect((await client.request({ type: 'history', channel: 'mine#7' })).error.code).toBe('forbidden');
    await client.close();
  });
});
