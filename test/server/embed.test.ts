// Embedding: attach to an app's own http.Server, hooks with close codes.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createServer, type ClientContext } from '../../src/server/index.js';
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
  const disconnected = new Promise<[ClientContext, number, string]>((resolve) =>
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
