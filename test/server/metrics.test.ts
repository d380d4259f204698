// Every metric of docs/operations.md, "Metrics", moves when its event happens.
// Each test reads /metrics before and after the event and compares.
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer } from '../../src/server/index.js';
import { SwitchboardError } from '../../src/protocol/codes.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionsOf } from '../helpers/sessions.js';

/** /metrics as `name{labels}` -> value. */
async function scrape(srv: TestServer): Promise<Map<string, number>> {
  const text = await (await fetch(`${srv.url}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** The change of each series between two scrapes (series that appeared count from 0). */
function delta(before: Map<string, number>, after: Map<string, number>, series: string): number {
  return (after.get(series) ?? 0) - (before.get(series) ?? 0);
}

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({
    limits: { messagesPerSecond: 5, burst: 10, outboundBufferBytes: 4_096 },
    namespaces: {
      '': { history: { size: 3, ttl: 60_000 } },
      chat: { history: { size: 100, ttl: 60_000 } },
      live: {},
    },
  });
  srv.server
    .rpc('add', ({ a, b }: { a: number; b: number }) => a + b)
    .rpc('refuse', () => {
      throw new SwitchboardError('forbidden', 'no');
    })
    .rpc('crash', () => {
      throw new Error('boom');
    });
});
afterAll(() => srv.close());

describe('names', () => {
  it('all start with switchboard_, once, and include process metrics and event-loop lag', async () => {
    const metrics = await scrape(srv);
    const names = [...metrics.keys()].map((series) => series.replace(/\{.*$/, ''));
    expect(names.every((name) => name.startsWith('switchboard_'))).toBe(true);
    expect(names.filter((name) => /switchboard_.*switchboard_|process_process|nodejs_nodejs/.test(name))).toEqual([]);
    expect(names).toContain('switchboard_process_cpu_seconds_total');
    expect(names).toContain('switchboard_nodejs_eventloop_lag_seconds');
    expect(names).toContain('switchboard_nodejs_eventloop_lag_p99_seconds');
    // Not the defaults that walk every handle or descriptor on each scrape (their cost grows with the connections).
    for (const name of ['switchboard_nodejs_active_handles', 'switchboard_nodejs_active_resources', 'switchboard_process_open_fds']) {
      expect(names).not.toContain(name);
    }
    // Its movement is pinned in test/core/outbound-budget.test.ts, where queues can be held still.
    expect(names).toContain('switchboard_outbound_bytes');
  });
});

describe('connections', () => {
  it('counts open connections by subprotocol, and closes by code and by who closed', async () => {
    const before = await scrape(srv);
    const json = await RawClient.connect(srv.wsUrl);
    const msgpack = new WebSocket(srv.wsUrl, 'switchboard.v1.msgpack');
    await new Promise((resolve) => msgpack.once('message', resolve));
    const open = await scrape(srv);
    expect(delta(before, open, 'switchboard_connections{subprotocol="switchboard.v1.json",transport="websocket"}')).toBe(1);
    expect(delta(before, open, 'switchboard_connections{subprotocol="switchboard.v1.msgpack",transport="websocket"}')).toBe(1);

    const disconnected = new Promise((resolve) => srv.server.onDisconnect(resolve));
    await json.close();
    await disconnected;
    const byServer = new Promise((resolve) => msgpack.once('close', resolve));
    expect(await srv.server.disconnect({ client: sessionsOf(srv.server).at(-1)!.id }, 4000, 'bye')).toBe(1);
    await byServer;
    const after = await scrape(srv);
    expect(after.get('switchboard_connections{subprotocol="switchboard.v1.json",transport="websocket"}')).toBe(
      before.get('switchboard_connections{subprotocol="switchboard.v1.json",transport="websocket"}') ?? 0,
    );
    expect(delta(before, after, 'switchboard_closes_total{code="1000",by="client"}')).toBe(1);
    expect(delta(before, after, 'switchboard_closes_total{code="4000",by="server"}')).toBe(1);
  });

  it('labels close codes a client makes up as "other"', async () => {
    const before = await scrape(srv);
    const client = await RawClient.connect(srv.wsUrl);
    const disconnected = new Promise((resolve) => srv.server.onDisconnect(resolve));
    client.ws.close(3777, 'my own code');
    await disconnected;
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_closes_total{code="other",by="client"}')).toBe(1);
    expect(after.has('switchboard_closes_total{code="3777",by="client"}')).toBe(false);
  });

  it('counts handshake refusals by status and code', async () => {
    const before = await scrape(srv);
    await expect(RawClient.connect(srv.wsUrl.replace('/ws', '/nowhere'))).rejects.toThrow();
    await expect(RawClient.connect(srv.wsUrl, { protocols: 'other.v9' })).rejects.toThrow();
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_handshake_refusals_total{status="404",code="not_found"}')).toBe(1);
    expect(delta(before, after, 'switchboard_handshake_refusals_total{status="400",code="bad_request"}')).toBe(1);
  });

  it('counts rate-limit and slow-consumer closes', async () => {
    const before = await scrape(srv);
    const flooder = await RawClient.connect(srv.wsUrl);
    for (let id = 1; id <= 25; id++) flooder.send({ type: 'ping', id });
    expect((await flooder.closed).code).toBe(4029);
    const slow = await RawClient.connect(srv.wsUrl);
    await slow.ok({ type: 'subscribe', channel: 'live:big' });
    await srv.server.publish('live:big', 'x'.repeat(8_192)); // past outboundBufferBytes at once
    expect((await slow.closed).code).toBe(4008);
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_closes_total{code="4029",by="server"}')).toBe(1);
    expect(delta(before, after, 'switchboard_closes_total{code="4008",by="server"}')).toBe(1);
    expect(delta(before, after, 'switchboard_limit_hits_total{limit="outboundBufferBytes"}')).toBe(1);
  });
});

describe('traffic', () => {
  it('counts frames and bytes in and out', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const before = await scrape(srv);
    const ping = JSON.stringify({ type: 'ping', id: 1 });
    client.send(ping);
    await client.next((f) => f.type === 'pong');
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_frames_received_total')).toBe(1);
    expect(delta(before, after, 'switchboard_bytes_received_total')).toBe(ping.length);
    expect(delta(before, after, 'switchboard_frames_sent_total')).toBe(1);
    expect(delta(before, after, 'switchboard_bytes_sent_total')).toBe(JSON.stringify({ type: 'pong', id: 1 }).length);
    await client.close();
  });

  it('counts publications, receipts and deliveries by namespace, and subscriptions', async () => {
    const a = await RawClient.connect(srv.wsUrl);
    const b = await RawClient.connect(srv.wsUrl);
    const before = await scrape(srv);
    await a.ok({ type: 'subscribe', channel: 'chat:1' });
    await b.ok({ type: 'subscribe', channel: 'chat:1' });
    const subscribed = await scrape(srv);
    expect(delta(before, subscribed, 'switchboard_subscriptions')).toBe(2);
    await a.ok({ type: 'publish', channel: 'chat:1', payload: 'hi' });
    await Promise.all([a.next((f) => f.type === 'message'), b.next((f) => f.type === 'message')]);
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_publications_total{namespace="chat"}')).toBe(1);
    expect(delta(before, after, 'switchboard_publications_received_total{namespace="chat"}')).toBe(1);
    expect(delta(before, after, 'switchboard_messages_delivered_total{namespace="chat"}')).toBe(2);
    expect(delta(before, after, 'switchboard_publications_total{namespace=""}')).toBe(0);
    await a.ok({ type: 'unsubscribe', channel: 'chat:1' });
    expect(delta(before, await scrape(srv), 'switchboard_subscriptions')).toBe(1);
    await Promise.all([a.close(), b.close()]);
  });
});

describe('RPC', () => {
  it('counts calls by method and outcome, with a latency histogram', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const before = await scrape(srv);
    expect((await client.request({ type: 'rpc', method: 'add', payload: { a: 1, b: 2 } })).payload).toBe(3);
    expect((await client.request({ type: 'rpc', method: 'refuse', payload: null })).error.code).toBe('forbidden');
    expect((await client.request({ type: 'rpc', method: 'crash', payload: null })).error.code).toBe('internal');
    expect((await client.request({ type: 'rpc', method: 'made-up-name', payload: null })).error.code).toBe('not_found');
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_rpc_calls_total{method="add",outcome="ok"}')).toBe(1);
    expect(delta(before, after, 'switchboard_rpc_calls_total{method="refuse",outcome="forbidden"}')).toBe(1);
    expect(delta(before, after, 'switchboard_rpc_calls_total{method="crash",outcome="internal"}')).toBe(1);
    expect(delta(before, after, 'switchboard_rpc_calls_total{method="(unknown)",outcome="not_found"}')).toBe(1);
    expect([...after.keys()].some((series) => series.includes('made-up-name'))).toBe(false);
    expect(delta(before, after, 'switchboard_rpc_duration_seconds_count{method="add"}')).toBe(1);
    expect(delta(before, after, 'switchboard_rpc_duration_seconds_bucket{le="+Inf",method="add"}')).toBe(1);
    await client.close();
  });
});

describe('recovery', () => {
  it('counts each recovery outcome', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    const { epoch } = await client.ok({ type: 'subscribe', channel: 'recover-me' });
    for (let i = 1; i <= 5; i++) await srv.server.publish('recover-me', i);
    await client.close();
    const before = await scrape(srv);
    // A client per attempt, each well within its message rate.
    const attempt = async (since: unknown, channel = 'recover-me') => {
      const fresh = await RawClient.connect(srv.wsUrl);
      const reply = await fresh.ok({ type: 'subscribe', channel, since });
      await fresh.close();
      return reply.recovered as boolean;
    };
    expect(await attempt({ epoch, offset: 4 })).toBe(true);
    expect(await attempt({ epoch: 'other', offset: 4 })).toBe(false);
    expect(await attempt({ epoch, offset: 1 })).toBe(false); // history keeps the newest 3
    expect(await attempt({ epoch, offset: 99 })).toBe(false);
    expect(await attempt({ epoch, offset: 1 }, 'live:none')).toBe(false);
    const after = await scrape(srv);
    for (const outcome of ['recovered', 'epoch_changed', 'evicted', 'future_position', 'no_history']) {
      expect(delta(before, after, `switchboard_recoveries_total{outcome="${outcome}"}`), outcome).toBe(1);
    }
    // One at a time, each subscribe to a channel with history reads alone (asked together, they share reads).
    expect(delta(before, after, 'switchboard_subscribe_history_reads_total{kind="asked"}')).toBe(4);
    expect(delta(before, after, 'switchboard_subscribe_history_reads_total{kind="sent"}')).toBe(4);
  });
});

describe('broker', () => {
  it('reports the broker up and times its operations', async () => {
    const before = await scrape(srv);
    expect(before.get('switchboard_broker_up')).toBe(1);
    await srv.server.publish('chat:timed', 1);
    const after = await scrape(srv);
    expect(delta(before, after, 'switchboard_broker_operation_duration_seconds_count{operation="publish",result="ok"}')).toBe(1);
    // Down and back (and switchboard_broker_outages_total) are in test/server/ops-logging.test.ts, with a Redis that dies.
  });
});

describe('before the registry is built', () => {
  it('counts what was timed before the first scrape of a server that never listened', async () => {
    // prom-client is loaded once a server listens or attaches, or at the first
    // scrape: a server used only through handleRequest builds it at that scrape.
    const server = createServer({ logger: pino({ level: 'silent' }) });
    await server.publish('early', 1);
    await server.publish('early', 2);
    const http = createHttpServer((req, res) => {
      void server.handleRequest(req, res).then((handled) => handled || res.writeHead(404).end());
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = http.address() as AddressInfo;
      const metrics = await scrape({ url: `http://127.0.0.1:${port}` } as TestServer);
      expect(metrics.get('switchboard_broker_operation_duration_seconds_count{operation="publish",result="ok"}')).toBe(2);
      expect(metrics.has('switchboard_process_cpu_seconds_total')).toBe(true);
    } finally {
      await new Promise((resolve) => http.close(resolve));
      await server.close();
    }
  });
});
