// permessage-deflate (`compression: true`, src/server/deflate.ts): no context
// takeover is negotiated both ways and a connection gives its zlib streams
// up once a message is through (deflate streams to a pool shared by all
// connections), so an idle connection holds none: they cost ~250 KB per
// connection before (docs/benchmarks.md). Over real sockets: compression
// still happens both ways, for large, repeated, concurrent and fragmented
// messages, and pooled streams carry nothing from one connection to another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { sessionOf } from '../helpers/sessions.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ compression: true, limits: { messagesPerSecond: 10_000, burst: 10_000 } });
});
afterAll(() => srv.close());

interface ZlibState {
  params: Record<string, unknown>;
  _deflate: unknown;
  _inflate: unknown;
}

/** The server side of `client`: ws's PerMessageDeflate and the TCP socket. */
function serverSide(client: RawClient): { ext: ZlibState; tcp: { bytesRead: number } } {
  // The ws WebSocket behind the session, as the transport holds it.
  const session = sessionOf(srv.server, client.welcome.payload.client) as unknown as { transport: { socket: any } };
  const socket = session.transport.socket;
  return { ext: socket._extensions['permessage-deflate'], tcp: socket._socket };
}

function bytesRead(client: RawClient): number {
  return (client.ws as any)._socket.bytesRead;
}

/** Text that deflate shrinks several times over, different for each `seed`. */
function text(bytes: number, seed: number): string {
  const words = ['switch', 'board', 'channel', 'publish', 'message', 'offset', 'epoch', `n${seed}`];
  let out = '';
  for (let i = 0; out.length < bytes; i++) out += words[(i * 7 + seed + (i >> 3)) % words.length] + ' ';
  return out.slice(0, bytes);
}

describe('permessage-deflate', () => {
  it('negotiates no context takeover for both the server and the client', async () => {
    const ws = new WebSocket(srv.wsUrl, { perMessageDeflate: true });
    const header = await new Promise<string>((resolve, reject) => {
      ws.once('upgrade', (res) => resolve(String(res.headers['sec-websocket-extensions'])));
      ws.once('error', reject);
    });
    ws.terminate();
    expect(header).toContain('permessage-deflate');
    expect(header).toContain('server_no_context_takeover');
    expect(header).toContain('client_no_context_takeover');
  });

  it('keeps no zlib stream for a connection once its messages are through, both ways', async () => {
    const client = await RawClient.connect(srv.wsUrl, { perMessageDeflate: true });
    const { ext, tcp } = serverSide(client);
    await client.ok({ type: 'subscribe', channel: 'big' });
    const payload = text(100_000, 1);
    const [readBefore, sentBefore] = [bytesRead(client), tcp.bytesRead];
    await client.ok({ type: 'publish', channel: 'big', payload });
    const message = await client.next((f) => f.type === 'message' && f.channel === 'big');
    expect(message.payload).toBe(payload);
    // Both ways the frame was compressed: far fewer bytes on the wire than the payload.
    expect(tcp.bytesRead - sentBefore).toBeLessThan(payload.length / 4);
    expect(bytesRead(client) - readBefore).toBeLessThan(payload.length / 4);
    // ...and neither zlib stream outlived its message.
    expect(ext._deflate).toBeNull();
    expect(ext._inflate).toBeNull();
    await client.close();
  });

  it('still delivers large payloads intact: repeated, from many clients at once, to several, and in fragments', async () => {
    const readers = await Promise.all(Array.from({ length: 3 }, () => RawClient.connect(srv.wsUrl, { perMessageDeflate: true })));
    await Promise.all(readers.map((reader) => reader.ok({ type: 'subscribe', channel: 'many' })));
    const writers = await Promise.all(Array.from({ length: 20 }, () => RawClient.connect(srv.wsUrl, { perMessageDeflate: true })));
    const sent = new Set<string>();
    await Promise.all(
      writers.map(async (writer, w) => {
        for (let n = 0; n < 3; n++) {
          const payload = text(20_000 + w * 1_000 + n, w * 3 + n);
          sent.add(payload);
          await writer.ok({ type: 'publish', channel: 'many', payload });
        }
      }),
    );
    // One message in two fragments: the server's inflate stream must last until the last one.
    const payload = text(50_000, 99);
    sent.add(payload);
    const frame = JSON.stringify({ type: 'publish', channel: 'many', payload, id: 1 });
    const cut = 30_000;
    const first = writers[0]!;
    first.ws.send(frame.slice(0, cut), { fin: false });
    first.ws.send(frame.slice(cut), { fin: true });
    await first.next((f) => f.type === 'reply' && f.id === 1 && f.ok === true);

    for (const reader of readers) {
      await reader.next((f) => f.type === 'message' && reader.messages('many').length === sent.size);
      expect(new Set(reader.messages('many').map((m) => m.payload))).toEqual(sent);
    }
    for (const client of [...readers, ...writers]) {
      const { ext } = serverSide(client);
      expect([ext._deflate, ext._inflate]).toEqual([null, null]);
    }
    await Promise.all([...readers, ...writers].map((c) => c.close()));
  });
});
