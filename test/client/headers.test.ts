// The Node SDK's `headers` option: what it gives reaches the server's
// `authenticate` hook on the handshake, a function is asked again before each
// connect, and a WebSocket option (a ws subclass) still gets them.
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type SwitchboardClient } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
const seen: IncomingHttpHeaders[] = [];
const sessions = new Map([
  ['session=ann', 'ann'],
  ['session=bob', 'bob'],
]);

beforeAll(async () => {
  srv = await startServer();
  srv.server.authenticate((req) => {
    seen.push(req.headers);
    const user = sessions.get(req.headers.cookie ?? '');
    return user ? { user } : undefined;
  });
});
afterAll(() => srv.close());

const welcomed = (client: SwitchboardClient) =>
  new Promise<{ user: string | null }>((resolve) => {
    const off = client.on('connected', (welcome) => {
      off();
      resolve(welcome);
    });
  });

describe('headers', () => {
  it('sends them on the handshake: a cookie makes the authenticate hook accept the user, and any other header arrives too', async () => {
    const client = connect(srv.wsUrl, { headers: { cookie: 'session=ann', 'x-api-key': 'key-1' } });
    try {
      expect((await welcomed(client)).user).toBe('ann');
      expect(seen.at(-1)).toMatchObject({ cookie: 'session=ann', 'x-api-key': 'key-1' });
    } finally {
      client.close();
    }
  });

  it('asks a function for them before each connect', async () => {
    let cookie = 'session=ann';
    const client = connect(srv.wsUrl, { headers: () => ({ cookie }), reconnect: { initialDelay: 10, maxDelay: 20 } });
    try {
      expect((await welcomed(client)).user).toBe('ann');
      cookie = 'session=bob';
      const again = welcomed(client);
      await srv.server.disconnect({ user: 'ann' }, 4000, 'reconnect, please');
      expect((await again).user).toBe('bob');
    } finally {
      client.close();
    }
  });

  it('hands them to a WebSocket option that is a ws subclass', async () => {
    const made: string[] = [];
    class Counted extends WebSocket {
      constructor(...args: ConstructorParameters<typeof WebSocket>) {
        super(...args);
        made.push(String(args[0]));
      }
    }
    const client = connect(srv.wsUrl, { WebSocket: Counted, headers: { cookie: 'session=bob' } });
    try {
      expect((await welcomed(client)).user).toBe('bob');
      expect(made).toEqual([srv.wsUrl]);
    } finally {
      client.close();
    }
  });

  it('sends none without the option: the hook leaves the anonymous client to the token rules', async () => {
    const client = connect(srv.wsUrl);
    try {
      expect((await welcomed(client)).user).toBeNull();
      expect(seen.at(-1)?.cookie).toBeUndefined();
    } finally {
      client.close();
    }
  });
});
