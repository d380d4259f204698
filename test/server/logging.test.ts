// One log line per connect and disconnect, with close code and reason; never
// a token or a query string.
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createServer } from '../../src/server/index.js';
import { RawClient } from '../helpers/raw-client.js';
import { SECRET, sign } from '../helpers/tokens.js';

it('logs connects and disconnects without tokens or query strings', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  const server = createServer({ logger, jwtSecret: SECRET });
  const { url } = await server.listen(0, '127.0.0.1');
  const token = await sign({ sub: 'logged-user' });
  const client = await RawClient.connect(`${url.replace('http', 'ws')}/ws?token=${token}&secret=query-value`);
  const disconnected = new Promise((resolve) => server.onDisconnect(resolve));
  client.ws.close(4000, 'see you');
  await disconnected;
  await server.close();

  const entries = lines.map((line) => JSON.parse(line));
  const connect = entries.find((e) => e.msg === 'connect');
  const disconnect = entries.find((e) => e.msg === 'disconnect');
  expect(connect).toMatchObject({ client: client.welcome.payload.client, user: 'logged-user', ip: '127.0.0.1' });
  expect(disconnect).toMatchObject({ client: client.welcome.payload.client, code: 4000, reason: 'see you' });
  const all = lines.join('\n');
  expect(all).not.toContain(token);
  expect(all).not.toContain(token.split('.')[2]!);
  expect(all).not.toContain('query-value');
});
