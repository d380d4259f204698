// Tokens on the client: asked for before every connect, refreshed on the open
// connection before they expire, and after a 4001 fetched anew at once.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { connect, type StateChange } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

let srv: TestServer;
beforeAll(async () => {
  srv = await startServer({ jwtSecret: SECRET, apiKey: 'k', namespaces: { '': { subscribe: 'authenticated', publish: 'authenticated' } } });
});
afterAll(() => srv.close());

it('asks for a fresh token before every connect', async () => {
  let calls = 0;
  const client = connect(srv.wsUrl, { token: () => (calls++, sign({ sub: 'ann' })), reconnect: { initialDelay: 10, maxDelay: 20 } });
  await new Promise((resolve) => client.on('connected', resolve));
  const again = new Promise((resolve) => client.on('connected', resolve));
  await fetch(`${srv.url}/api/disconnect`, {
    method: 'POST',
    headers: { Authorization: 'apikey k' },
    body: JSON.stringify({ user: 'ann', code: 4000 }),
  });
  await again;
  expect(calls).toBe(2);
  expect(client.session!.user).toBe('ann');
  client.close();
});

it('refreshes a short-lived token on the open connection, with no disconnect', async () => {
  let calls = 0;
  let third = () => {};
  const thirdToken = new Promise<void>((resolve) => (third = resolve));
  const client = connect(srv.wsUrl, {
    token: () => {
      if (++calls === 3) third();
      return sign({ sub: 'bea' }, { expiresIn: 2 });
    },
  });
  const changes: StateChange[] = [];
  client.on('state', (change) => changes.push(change));
  await new Promise((resolve) => client.on('connected', resolve));
  // Two refreshes means the first token's exp has passed on the same connection.
  await thirdToken;
  expect(await client.publish('still', 'here')).toEqual({ offset: null });
  expect(changes.map((c) => c.state)).toEqual(['connected']);
  client.close();
});

it('reconnects at once with a new token after 4001', async () => {
  let calls = 0;
  const client = connect(srv.wsUrl, {
    token: () => {
      calls++;
      if (calls === 1) return sign({ sub: 'cy' }, { expiresIn: 1 });
      if (calls === 2) throw new Error('token service down');
      return sign({ sub: 'cy' }, { expiresIn: 3600 });
    },
  });
  const errors: string[] = [];
  client.on('error', (e) => errors.push(e.message));
  const expired = new Promise<StateChange>((resolve) => client.on('disconnected', resolve));
  await new Promise((resolve) => client.on('connected', resolve));
  const back = new Promise((resolve) => client.on('connected', resolve));
  expect(await expired).toMatchObject({ code: 4001, delay: 0, willRetry: true });
  await back;
  expect(calls).toBe(3);
  expect(errors.some((m) => m.includes('token service down'))).toBe(true);
  client.close();
});

it('refuses to send a token a Sec-WebSocket-Protocol entry cannot carry, rather than put it in the URL', async () => {
  const client = connect(srv.wsUrl, { token: 'opaque/with+base64=', reconnect: false, transports: ['websocket'] });
  const error = await new Promise<Error & { code?: string }>((resolve) => client.on('error', resolve));
  expect(error.code).toBe('bad_request');
  expect(error.message).toMatch(/Sec-WebSocket-Protocol/);
  expect(client.state).toBe('closed');
});
