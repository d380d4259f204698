// Embedding: attach to an app's own http.Server, hooks with close codes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createServer, type ConnectionInfo } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';

it('serves WebSockets on an existing http.Server next to the app routes', async () => {
  const switchboard = createServer({ logger: pino({ level: 'silent' }), path: '/live' });
  const app = http.createServer(async (req, res) => {
    if (await switchboard.handleRequest(req, res)) return;
    res.end('app says hi');
  });
  await switchboard.attach(app);
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const { port } = app.address() as AddressInfo;

  expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('app says hi');
  expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);

  const events: string[] = [];
  const disconnected = new Promise<[ConnectionInfo, number, string]>((resolve) =>
    switchboard.onDisconnect((info, code, reason) => resolve([info, code, reason])),
  );
  switchboard.onConnect((info) => events.push(`connect ${info.client}`));
  const client = await RawClient.connect(`ws://127.0.0.1:${port}/live`);
  expect(events).toEqual([`connect ${client.welcome.payload.client}`]);
  client.ws.close(1000, 'bye now');
  const [info, code, reason] = await disconnected;
  expect(info.client).toBe(client.welcome.payload.client);
  expect([code, reason]).toEqual([1000, 'bye now']);

  await switchboard.close();
  await new Promise((resolve) => app.close(resolve));
});

it('survives connect and disconnect hooks that throw or reject: sessions are cleaned up and a drain finishes', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => lines.push(line) });
  const switchboard = createServer({ logger });
  const { url } = await switchboard.listen(0, '127.0.0.1');
  const wsUrl = `${url.replace('http', 'ws')}/ws`;
  let disconnects = 0;
  switchboard.onConnect(() => {
    throw new Error('connect hook exploded');
  });
  switchboard.onDisconnect(() => {
    disconnects++;
    throw new Error('disconnect hook exploded');
  });
  const first = await RawClient.connect(wsUrl);
  expect(await first.alive()).toBe(true);
  await first.close();
  await expect.poll(() => disconnects).toBe(1);
  switchboard.onConnect(() => Promise.reject(new Error('connect hook rejected')));
  const second = await RawClient.connect(wsUrl);
  expect(await second.alive()).toBe(true);
  second.ws.terminate();
  await expect.poll(() => switchboard.core.sessions.size).toBe(0);
  await expect.poll(() => lines.filter((l) => l.includes('hook failed')).length).toBe(4);
  expect(lines.every((l) => l.includes('"client"'))).toBe(true);
  await switchboard.close();
});
