// Limits a hostile client runs into: message rate, slow or oversized upgrade
// requests, and compression bombs.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';

describe('message rate', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ limits: { messagesPerSecond: 5, burst: 10 } });
  });
  afterAll(() => srv.close());

  it('answers rate_limited past the burst, then closes with 4029 past twice the burst', async () => {
    const flooder = await RawClient.connect(srv.wsUrl);
    const bystander = await RawClient.connect(srv.wsUrl);
    expect(flooder.welcome.payload.limits.rate).toEqual({ messagesPerSecond: 5, burst: 10 });
    for (let id = 1; id <= 25; id++) flooder.send({ type: 'ping', id });
    const closed = await flooder.closed;
    expect(closed.code).toBe(4029);
    const pongs = flooder.frames.filter((f) => f.type === 'pong').map((f) => f.id);
    const limited = flooder.frames.filter((f) => f.type === 'reply' && f.error?.code === 'rate_limited').map((f) => f.id);
    // The first burst is served; the next burst is refused; the one after closes.
    expect(pongs.length).toBeGreaterThanOrEqual(10);
    expect(limited.length).toBeGreaterThan(0);
    expect(pongs.length + limited.length).toBe(20);
    expect(await bystander.alive()).toBe(true);
    await bystander.close();
  });

  it('lets a client that slows down carry on', async () => {
    const client = await RawClient.connect(srv.wsUrl);
    for (let id = 1; id <= 12; id++) client.send({ type: 'ping', id });
    await client.next((f) => f.id === 12);
    expect(client.frames.some((f) => f.error?.code === 'rate_limited')).toBe(true);
    // Refill is what is under test here, so time itself must pass: a second
    // at 5 per second buys five more messages.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await client.alive()).toBe(true);
    expect(client.ws.readyState).toBe(WebSocket.OPEN);
    await client.close();
  });
});

describe('slow and oversized upgrade requests', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ limits: { handshakeTimeout: 300 } });
  });
  afterAll(() => srv.close());

  function rawConnection(): { socket: net.Socket; answer: Promise<string> } {
    const socket = net.connect(Number(new URL(srv.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += String(chunk)));
    socket.on('error', () => {});
    const answer = new Promise<string>((resolve) => socket.on('close', () => resolve(text)));
    return { socket, answer };
  }

  it('drops a connection that never sends its request, with 408', async () => {
    const { answer } = rawConnection();
    expect(await answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('drops a request that arrives a byte at a time, with 408', async () => {
    const { socket, answer } = rawConnection();
    const request = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
    let i = 0;
    // The drip is the attack, not a wait: one byte every 20 ms, for as long as the server allows.
    const drip = setInterval(() => socket.writable && socket.write(request[i++ % request.length]!), 20);
    const text = await answer;
    clearInterval(drip);
    expect(text).toMatch(/^HTTP\/1\.1 408/);
    expect(text).toContain('"code":"timeout"');
    // Meanwhile and afterwards, well-behaved clients get in.
    const client = await RawClient.connect(srv.wsUrl);
    await client.close();
  });

  it('refuses headers over 16 KiB with 431', async () => {
    const { socket, answer } = rawConnection();
    socket.write(`GET /ws HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 431/);
  });
});

describe('permessage-deflate', () => {
  it('is off by default', async () => {
    const srv = await startServer();
    const ws = new WebSocket(srv.wsUrl, { perMessageDeflate: true });
    await new Promise((resolve) => ws.on('open', resolve));
    expect(ws.extensions).toBe('');
    ws.close();
    await srv.close();
  });

  it('when on, refuses a deflate bomb by its inflated size with 1009', async () => {
    const srv = await startServer({ compression: true, limits: { maxPayload: 64 * 1024 } });
    const bomber = new WebSocket(srv.wsUrl, { perMessageDeflate: true });
    await new Promise((resolve) => bomber.on('open', resolve));
    expect(bomber.extensions).toContain('permessage-deflate');
    const closed = new Promise<number>((resolve) => bomber.on('close', (code) => resolve(code)));
    bomber.on('error', () => {});
    // 8 MiB of one character compresses to a few KiB: small on the wire, huge inflated.
    const bomb = JSON.stringify({ type: 'publish', channel: 'x', payload: 'a'.repeat(8 * 1024 * 1024) });
    bomber.send(bomb, { compress: true });
    expect(await closed).toBe(1009);
    // Compressed frames within the limit still work.
    const fine = await RawClient.connect(srv.wsUrl, { perMessageDeflate: true });
    await fine.ok({ type: 'subscribe', channel: 'x' });
    await fine.ok({ type: 'publish', channel: 'x', payload: 'b'.repeat(10_000) });
    expect((await fine.next((f) => f.type === 'message')).payload).toHaveLength(10_000);
    await fine.close();
    await srv.close();
  });
});
