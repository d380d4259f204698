// What a socket can hold before it is a WebSocket: silent and refused sockets
// are destroyed by the server, refusals hold no connection slot, one address
// can keep only so many connections pending, a malformed target is a 400 that
// never reaches the log, and listen() uses the configured backlog.
// Raw TCP throughout. The test clients are half-open (allowHalfOpen): they
// never close their side on their own, so a socket only goes away when the
// server destroys it, which is the behaviour under test.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { limitHits } from '../helpers/sessions.js';

const UPGRADE_HEADERS = [
  'Host: 127.0.0.1',
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
  'Sec-WebSocket-Version: 13',
  '',
].join('\r\n');

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Reject if `promise` has not settled within `ms`: a deadline, not a wait. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

interface Raw {
  socket: net.Socket;
  text: () => string;
  /** The server sent FIN. */
  ended: Promise<void>;
  closed: Promise<void>;
  /** Resolves once the bytes received so far match. */
  received: (pattern: RegExp) => Promise<string>;
}

/** A half-open TCP client on 127.0.0.1, connected. */
async function rawConnect(port: number): Promise<Raw> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let text = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    text += chunk;
    for (const waiter of waiters.splice(0)) waiter();
  });
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.once('end', resolve));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const received = (pattern: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (pattern.test(text)) resolve(text);
        else if (socket.closed) reject(new Error(`closed before ${pattern}: ${JSON.stringify(text)}`));
        else waiters.push(check);
      };
      socket.once('close', check);
      check();
    });
  cleanups.push(() => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, text: () => text, ended, closed, received };
}

function parseAnswer(text: string): { status: number; body: any } {
  const [head, body] = text.split('\r\n\r\n', 2) as [string, string];
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body: body ? JSON.parse(body) : null };
}

/** The http.Server a SwitchboardServer made in listen() (private; the test needs its sockets). */
function httpServerOf(server: SwitchboardServer): http.Server {
  return (server as unknown as { ownServers: http.Server[] }).ownServers[0]!;
}

/** The server side of every TCP connection the server accepts from now on. */
function serverSockets(server: http.Server): net.Socket[] {
  const sockets: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  return sockets;
}

function allClosed(sockets: net.Socket[]): Promise<unknown> {
  return Promise.all(sockets.filter((s) => !s.closed).map((s) => new Promise((resolve) => s.once('close', resolve))));
}

function openConnections(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

async function started(options: Parameters<typeof startServer>[0]): Promise<TestServer & { port: number }> {
  const srv = await startServer(options);
  cleanups.push(() => srv.close());
  return { ...srv, port: Number(new URL(srv.url).port) };
}

describe('sockets the server refuses are destroyed, not half-closed', () => {
  it('answers 50 silent connections with 408, then closes each one', async () => {
    const srv = await started({ limits: { handshakeTimeout: 300 } });
    const httpServer = httpServerOf(srv.server);
    const baseline = await openConnections(httpServer);
    const accepted = serverSockets(httpServer);
    const silent = await Promise.all(Array.from({ length: 50 }, () => rawConnect(srv.port)));

    await within(Promise.all(silent.map((c) => c.ended)), 10_000, '408 answers');
    for (const client of silent) {
      expect(parseAnswer(client.text())).toEqual({ status: 408, body: { error: { code: 'timeout', message: expect.any(String) } } });
    }
    // The clients never close their side; the server still lets go of every socket.
    expect(accepted).toHaveLength(50);
    await within(allClosed(accepted), 5_000, 'server-side close');
    expect(await openConnections(httpServer)).toBe(baseline);
    expect(await limitHits(srv.server, 'handshakeTimeout')).toBe(50);
  });

  it('refused upgrades hold no slot and are closed by the server', async () => {
    const srv = await started({ limits: { connectionsPerIp: 2 } });
    const accepted = serverSockets(httpServerOf(srv.server));
    const refused: Raw[] = [];
    for (let i = 0; i < 3; i++) {
      const client = await rawConnect(srv.port);
      client.socket.write(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}Origin: https://evil.example\r\n\r\n`);
      await within(client.ended, 5_000, 'refusal');
      expect(parseAnswer(client.text())).toEqual({ status: 403, body: { error: { code: 'forbidden_origin', message: expect.any(String) } } });
      refused.push(client);
    }
    const refusedOnServer = accepted.slice();
    expect(refusedOnServer).toHaveLength(3);

    const good = await RawClient.connect(srv.wsUrl);
    expect(await good.alive()).toBe(true);
    await within(allClosed(refusedOnServer), 5_000, 'server-side close of refused sockets');
    await good.close();
  });

  it('counts refusals at the connection caps as limit hits', async () => {
    const srv = await started({ limits: { connectionsPerIp: 1 } });
    const first = await RawClient.connect(srv.wsUrl);
    const client = await rawConnect(srv.port);
    client.socket.write(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`);
    await within(client.ended, 5_000, 'refusal');
    expect(parseAnswer(client.text()).status).toBe(429);
    expect(await limitHits(srv.server, 'connectionsPerIp')).toBe(1);
    await first.close();

    const full = await started({ limits: { maxConnections: 1 } });
    const only = await RawClient.connect(full.wsUrl);
    const turnedAway = await rawConnect(full.port);
    turnedAway.socket.write(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`);
    await within(turnedAway.ended, 5_000, 'refusal');
    expect(parseAnswer(turnedAway.text()).status).toBe(503);
    expect(await limitHits(full.server, 'maxConnections')).toBe(1);
    await only.close();
  });
});

describe('pending connections per address', () => {
  async function upgrade(client: Raw): Promise<void> {
    client.socket.write(`GET /ws HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`);
    await within(client.received(/^HTTP\/1\.1 101 /), 5_000, 'upgrade');
  }

  /** A fresh connection is accepted: it gets an answer to a plain request (and is gone on both sides after). */
  async function acceptedNow(port: number, httpServer: http.Server): Promise<string> {
    const accepted = serverSockets(httpServer);
    const client = await rawConnect(port);
    client.socket.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await within(client.ended, 5_000, 'metrics answer');
    expect(client.text()).toMatch(/^HTTP\/1\.1 200 /);
    client.socket.destroy();
    await within(allClosed(accepted), 5_000, 'server-side close');
    return client.text();
  }

  /** Hold `pending` idle connections, then see one more dropped at once, with nothing written. */
  async function fillAndOverflow(port: number, server: SwitchboardServer, httpServer: http.Server, hits: number): Promise<Raw[]> {
    const accepted = serverSockets(httpServer);
    const held: Raw[] = [];
    for (let i = 0; i < 5; i++) held.push(await rawConnect(port));
    const extra = await rawConnect(port);
    await within(extra.ended, 2_000, 'the connection past the cap to be dropped');
    expect(extra.text()).toBe('');
    expect(await limitHits(server, 'pendingConnectionsPerIp')).toBe(hits);
    for (const client of held) expect(client.socket.closed).toBe(false);
    // The server accepted the five, and the extra only to count and destroy it.
    expect(accepted.length).toBe(6);
    expect(accepted.slice(0, 5).every((s) => !s.destroyed)).toBe(true);
    expect(accepted[5]!.destroyed).toBe(true);
    return held;
  }

  it('drops connections past the cap until pending ones upgrade or close (listen)', async () => {
    const srv = await started({ limits: { pendingConnectionsPerIp: 5 } });
    const httpServer = httpServerOf(srv.server);

    const held = await fillAndOverflow(srv.port, srv.server, httpServer, 1);
    for (const client of held) await upgrade(client);
    // Upgraded connections are WebSockets, no longer pending.
    const metrics = await acceptedNow(srv.port, httpServer);
    expect(metrics).toContain('switchboard_limit_hits_total{limit="pendingConnectionsPerIp"} 1');

    // Pending again, then closed by the clients: the count comes back down too.
    const accepted = serverSockets(httpServer);
    const idle = await fillAndOverflow(srv.port, srv.server, httpServer, 2);
    for (const client of idle) client.socket.destroy();
    await within(allClosed(accepted), 5_000, 'server-side close');
    await acceptedNow(srv.port, httpServer);
  });

  it('applies to a server Switchboard is attached to', async () => {
    const switchboard = createServer({ logger: pino({ level: 'silent' }), limits: { pendingConnectionsPerIp: 5 } });
    const app = http.createServer(async (req, res) => {
      if (await switchboard.handleRequest(req, res)) return;
      res.end('app');
    });
    await switchboard.attach(app);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      await switchboard.close();
      app.closeAllConnections();
      await new Promise((resolve) => app.close(resolve));
    });
    const { port } = app.address() as AddressInfo;

    const held = await fillAndOverflow(port, switchboard, app, 1);
    await upgrade(held[0]!);
    await acceptedNow(port, app);
  });
});

describe('pending connections over TLS', () => {
  function selfSigned(): { cert: string; key: string } | null {
    const dir = mkdtempSync(join(tmpdir(), 'sb-sockets-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
    } catch {
      return null;
    }
    return { cert, key };
  }
  const files = selfSigned();

  // The 'connection' event sees the TCP socket, the upgrade its TLS socket:
  // an upgrade must still stop the TCP socket counting as pending.
  it.skipIf(!files)('stops counting a connection once it is a wss:// WebSocket', async () => {
    const srv = await started({ tlsCert: files!.cert, tlsKey: files!.key, limits: { pendingConnectionsPerIp: 2 } });
    const ca = readFileSync(files!.cert);
    const clients: RawClient[] = [];
    for (let i = 0; i < 4; i++) clients.push(await RawClient.connect(srv.wsUrl.replace(/^wss?/, 'wss'), { ca }));
    for (const client of clients) expect(await client.alive()).toBe(true);
    expect(await limitHits(srv.server, 'pendingConnectionsPerIp')).toBe(0);
    for (const client of clients) await client.close();
  });
});

describe('a request target URL cannot parse', () => {
  it('gets 400 with a JSON body, plain or upgrade, and the token is never logged', async () => {
    const lines: string[] = [];
    const server = createServer({ logger: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }) });
    const { url } = await server.listen(0, '127.0.0.1');
    cleanups.push(() => server.close());
    const port = Number(new URL(url).port);
    const target = '//:99999/ws?token=SECRET-in-the-query';

    const plain = await rawConnect(port);
    plain.socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await within(plain.ended, 5_000, 'plain answer');
    const upgrade = await rawConnect(port);
    upgrade.socket.write(`GET ${target} HTTP/1.1\r\n${UPGRADE_HEADERS}\r\n`);
    await within(upgrade.ended, 5_000, 'upgrade answer');

    for (const answer of [plain.text(), upgrade.text()]) {
      expect(parseAnswer(answer)).toEqual({ status: 400, body: { error: { code: 'bad_request', message: expect.any(String) } } });
      expect(answer).not.toContain('SECRET');
    }
    expect(lines.join('\n')).not.toContain('SECRET');
  });
});

/** For a listening socket, ss shows its backlog as Send-Q (State Recv-Q Send-Q Local Peer). */
function listenBacklog(port: number): number {
  const line = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim();
  return Number(line.split(/\s+/)[2]);
}

function hasSs(): boolean {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('listen backlog', () => {
  // The kernel reports a listening socket's backlog; no timing involved.
  it.skipIf(!hasSs())('is the configured one, not Node default 511', async () => {
    const srv = await started({ backlog: 7 });
    expect(listenBacklog(srv.port)).toBe(7);
    // The default, 4096, as far as the kernel allows (net.core.somaxconn).
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    const byDefault = await started({});
    expect(listenBacklog(byDefault.port)).toBe(Math.min(4_096, somaxconn));
  });
});
