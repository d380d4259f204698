// Hostile pass: a POST /stream whose client went away mid-body was counted as
// a maxPayload limit hit and a 413 refusal ("aborted" logged as its reason):
// anyone could fill the limit-hit alarms without sending a large body. Only a
// body over limits.maxPayload is that now; an aborted one has no one to answer.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, expect, it } from 'vitest';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';

let switchboard: SwitchboardServer | null = null;
let server: http.Server | null = null;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(null));
  await switchboard?.close();
  switchboard = server = null;
});

async function counter(name: string, label: string): Promise<number> {
  const metric = (await switchboard!.metricsSnapshot()).find((m) => m.name === name);
  return (metric?.values ?? []).filter((v) => Object.values(v.labels).includes(label)).reduce((sum, v) => sum + v.value, 0);
}

it('a POST /stream aborted mid-body is no maxPayload hit and no 413', async () => {
  const sb = (switchboard = createServer({ logger: pino({ level: 'silent' }) }));
  let requestClosed!: () => void;
  const closed = new Promise<void>((resolve) => (requestClosed = resolve));
  const app = (server = http.createServer(sb.httpServerOptions(), (req, res) => {
    req.on('close', requestClosed);
    void sb.handleRequest(req, res).then((handled) => handled || res.writeHead(404).end());
  }));
  await sb.attach(app);
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const socket = net.connect((app.address() as AddressInfo).port, '127.0.0.1');
  socket.write('POST /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Switchboard-Session: abc\r\nContent-Length: 1000\r\n\r\n0123456789');
  socket.on('error', () => {});
  // Gone once the server has the request (its first part of the body included).
  await new Promise<void>((resolve) => app.once('request', () => resolve()));
  socket.destroy();
  await closed;
  await new Promise((resolve) => setImmediate(resolve));
  expect(await counter('switchboard_limit_hits_total', 'maxPayload')).toBe(0);
  expect(await counter('switchboard_handshake_refusals_total', 'payload_too_large')).toBe(0);
});
