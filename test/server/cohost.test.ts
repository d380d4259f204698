// Co-hosting on an app's own http.Server: attach() answers only its own
// upgrades and leaves the rest to the server's other 'upgrade' listeners;
// handleRequest claims only Switchboard's routes (under httpPrefix when set)
// and reads a body a parser has already consumed; the slow-request bounds
// hold in attach mode when the app creates its server with httpServerOptions().
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { createServer, type ServerOptions, type SwitchboardServer } from '../../src/server/index.js';
import { upgradeRequest } from '../helpers/http.js';
import { limitHits } from '../helpers/sessions.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface App {
  switchboard: SwitchboardServer;
  server: http.Server;
  url: string;
  port: number;
}

/** An app on its own http.Server: Switchboard's routes first, then the app's. */
async function startApp(options: ServerOptions = {}, serverOptions: http.ServerOptions = {}, parseBodies = false): Promise<App> {
  const switchboard = createServer({ logger: pino({ level: 'silent' }), apiKey: 'k', ...options });
  const server = http.createServer(serverOptions, async (req, res) => {
    if (parseBodies && req.method === 'POST') {
      // What a body parser does: read the stream to its end and keep the result on req.body.
      let text = '';
      for await (const chunk of req) text += chunk;
      (req as { body?: unknown }).body = JSON.parse(text);
    }
    if (await switchboard.handleRequest(req, res)) return;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ app: req.url }));
  });
  await switchboard.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    await switchboard.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { switchboard, server, url: `http://127.0.0.1:${port}`, port };
}

/** A plain `ws` echo endpoint on `path`, routed by the app's own 'upgrade' listener (ws's noServer pattern). */
function echoEndpoint(server: http.Server, path: string): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)));
  server.on('upgrade', (req, socket, head) => {
    if (req.url === path) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  cleanups.push(() => new Promise((resolve) => wss.close(resolve)));
  return wss;
}

/** Open a ws client, send one message, resolve with the answer; rejects on any socket error. */
function echo(url: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.on('open', () => ws.send(text));
    ws.on('message', (data) => {
      resolve(data.toString());
      // Stay open a moment longer than the answer: a stray 404 written after
      // the 101 would show up as a frame error here.
      ws.close();
    });
    ws.on('error', reject);
    ws.on('close', (code) => code !== 1000 && code !== 1005 && reject(new Error(`closed with ${code}`)));
  });
}

describe('attach() and other upgrade listeners', () => {
  it('leaves upgrades to other paths to the other listeners: a ws endpoint beside it keeps working', async () => {
    const app = await startApp();
    echoEndpoint(app.server, '/graphql');
    // Several exchanges, with Switchboard traffic in between.
    const client = connect(`ws://127.0.0.1:${app.port}/ws`);
    cleanups.push(() => client.close());
    const got: unknown[] = [];
    await client.subscribe('news', (payload) => got.push(payload)).ready;
    for (const text of ['one', 'two', 'three']) expect(await echo(`ws://127.0.0.1:${app.port}/graphql`, text)).toBe(`echo ${text}`);
    await client.publish('news', { n: 1 });
    await expect.poll(() => got).toEqual([{ n: 1 }]);
  });

  it('answers a wrong path with the 404 JSON refusal when it is the only upgrade listener', async () => {
    const app = await startApp();
    const answer = await upgradeRequest(app.url, {}, '/elsewhere');
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('not_found');
  });

  it('counts an upgrade it leaves to another listener as no longer pending', async () => {
    const app = await startApp({ limits: { pendingConnectionsPerIp: 3 } });
    echoEndpoint(app.server, '/graphql');
    const sockets = await Promise.all(
      Array.from({ length: 5 }, () => {
        const ws = new WebSocket(`ws://127.0.0.1:${app.port}/graphql`);
        return new Promise<WebSocket>((resolve, reject) => (ws.on('open', () => resolve(ws)), ws.on('error', reject)));
      }),
    );
    cleanups.push(() => sockets.forEach((ws) => ws.terminate()));
    // Five open WebSockets of the app's from one address; plain HTTP still gets through.
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
    expect(await limitHits(app.switchboard, 'pendingConnectionsPerIp')).toBe(0);
  });
});

describe('handleRequest claims only its own routes', () => {
  it('leaves the app its /api/users and any path it does not serve, and still answers its own', async () => {
    const app = await startApp({ apiKey: null });
    for (const path of ['/api/users', '/api/users/7', '/api/', '/apiary', '/metricsx']) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(await res.json()).toEqual({ app: path });
    }
    // Switchboard's own API path is claimed: 403 with no key configured.
    expect((await fetch(`${app.url}/api/stats`)).status).toBe(403);
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  it('serves its routes under httpPrefix and nothing at the root', async () => {
    const app = await startApp({ httpPrefix: '/realtime' });
    expect(await (await fetch(`${app.url}/realtime/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${app.url}/realtime/metrics`)).headers.get('content-type')).toMatch(/^text\/plain/);
    const stats = await fetch(`${app.url}/realtime/api/stats`, { headers: { Authorization: 'apikey k' } });
    expect(stats.status).toBe(200);
    expect((await fetch(`${app.url}/realtime/client.js`)).headers.get('content-type')).toMatch(/javascript/);
    for (const path of ['/healthz', '/api/stats', '/realtime', '/realtimex/healthz']) {
      expect(await (await fetch(`${app.url}${path}`)).json(), path).toEqual({ app: path });
    }
    // The WebSocket path is not prefixed: upgrades go to `path` as configured.
    const client = connect(`ws://127.0.0.1:${app.port}/ws`);
    cleanups.push(() => client.close());
    await new Promise((resolve) => client.on('connected', resolve));
  });

  it('moves the routes of a server it owns under httpPrefix too, demo page included', async () => {
    const switchboard = createServer({ logger: pino({ level: 'silent' }), httpPrefix: '/realtime' });
    const { url } = await switchboard.listen(0, '127.0.0.1');
    cleanups.push(() => switchboard.close());
    const demo = await fetch(`${url}/realtime/`);
    expect(demo.headers.get('content-type')).toMatch(/^text\/html/);
    // The page's script and the client bundle it imports are relative to the page, so under the prefix.
    expect(await demo.text()).toContain('src="demo/demo.js"');
    expect(await (await fetch(`${url}/realtime/demo/demo.js`)).text()).toContain("new URL('../client.js', import.meta.url)");
    expect((await fetch(`${url}/realtime/client.js`)).status).toBe(200);
    for (const path of ['/', '/healthz', '/client.js']) expect((await fetch(`${url}${path}`)).status, path).toBe(404);
  });

  it('takes the body from req.body when a parser has already read the stream', async () => {
    const app = await startApp({}, {}, true);
    const client = connect(`ws://127.0.0.1:${app.port}/ws`);
    cleanups.push(() => client.close());
    const got: unknown[] = [];
    await client.subscribe('news', (payload) => got.push(payload)).ready;
    const res = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { Authorization: 'apikey k', 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'news', payload: { parsed: 'by the app' } }),
    });
    expect(res.status).toBe(200);
    await expect.poll(() => got).toEqual([{ parsed: 'by the app' }]);
    // The bounds still hold on a body parsed by someone else.
    const deep = '['.repeat(100) + ']'.repeat(100);
    const tooDeep = await fetch(`${app.url}/api/publish`, {
      method: 'POST',
      headers: { Authorization: 'apikey k' },
      body: `{"channel":"news","payload":${deep}}`,
    });
    expect(tooDeep.status).toBe(400);
  });

  it('answers 400 when the stream was read and nothing kept', async () => {
    const switchboard = createServer({ logger: pino({ level: 'silent' }), apiKey: 'k' });
    const server = http.createServer(async (req, res) => {
      for await (const _chunk of req); // read and dropped
      if (!(await switchboard.handleRequest(req, res))) res.end('app');
    });
    await switchboard.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await switchboard.close();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/api/publish`, {
      method: 'POST',
      headers: { Authorization: 'apikey k' },
      body: JSON.stringify({ channel: 'news', payload: 1 }),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/req\.body/);
  });
});

describe('slow requests on an attached server', () => {
  /** A raw TCP client that sends `head` and resolves with everything the server sends before it closes. */
  function rawExchange(port: number, head: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(head));
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
  }

  it('answers headers slower than limits.handshakeTimeout with 408 JSON when the app uses httpServerOptions()', async () => {
    const options = { limits: { handshakeTimeout: 300 } };
    const serverOptions = createServer({ logger: pino({ level: 'silent' }), ...options }).httpServerOptions();
    expect(serverOptions).toMatchObject({ headersTimeout: 300, maxHeaderSize: 16_384 });
    const app = await startApp(options, serverOptions);
    const answer = await rawExchange(app.port, 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toContain('{"error":{"code":"timeout"');
    expect(await limitHits(app.switchboard, 'handshakeTimeout')).toBe(1);
    const large = await rawExchange(app.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(large).toMatch(/^HTTP\/1\.1 431 /);
    expect(await limitHits(app.switchboard, 'headerSize')).toBe(1);
  });

  it('warns at attach when the app server waits longer for headers, and leaves its settings alone', async () => {
    const lines: string[] = [];
    const switchboard = createServer({ logger: pino({ level: 'warn' }, { write: (l: string) => lines.push(l) }) });
    const server = http.createServer();
    const before = { headersTimeout: server.headersTimeout, requestTimeout: server.requestTimeout };
    await switchboard.attach(server);
    cleanups.push(() => switchboard.close());
    expect({ headersTimeout: server.headersTimeout, requestTimeout: server.requestTimeout }).toEqual(before);
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([expect.stringContaining('httpServerOptions()')]);
  });
});
