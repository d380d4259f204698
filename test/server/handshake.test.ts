// Each refusal of the handshake (PROTOCOL.md section 1) as an HTTP status with
// its JSON body, before any WebSocket exists.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';
import WebSocket from 'ws';
import { decode } from '@msgpack/msgpack';

/** The welcome frame a MessagePack client gets at `url`. */
function msgpackWelcome(url: string): Promise<{ payload: Record<string, unknown> }> {
  const ws = new WebSocket(url, 'switchboard.v1.msgpack');
  return new Promise((resolve, reject) => {
    ws.once('message', (data: Buffer) => {
      resolve(decode(data) as { payload: Record<string, unknown> });
      ws.close();
    });
    ws.once('error', reject);
  });
}

let open: TestServer;
let closedShop: TestServer;

beforeAll(async () => {
  open = await startServer({ jwtSecret: SECRET });
  // No namespace admits anonymous clients, so a token is required.
  closedShop = await startServer({
    jwtSecret: SECRET,
    allowedOrigins: ['https://app.example.com'],
    namespaces: { '': { subscribe: 'authenticated', publish: 'authenticated' } },
  });
});
afterAll(async () => {
  await open.close();
  await closedShop.close();
});

function expectRefusal(answer: { status: number; body: any }, status: number, code: string) {
  expect(answer.status).toBe(status);
  expect(answer.body).toEqual({ error: { code, message: expect.any(String) } });
}

describe('400 bad_request', () => {
  it('refuses a request that is not an upgrade', async () => {
    const res = await fetch(`${open.url}/ws`);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('bad_request');
  });

  it('refuses WebSocket version 8 and names version 13', async () => {
    const answer = await upgradeRequest(open.url, { 'Sec-WebSocket-Version': '8' });
    expectRefusal(answer, 400, 'bad_request');
    expect(answer.headers['sec-websocket-version']).toBe('13');
  });

  it('refuses a malformed Sec-WebSocket-Key', async () => {
    expectRefusal(await upgradeRequest(open.url, { 'Sec-WebSocket-Key': 'short' }), 400, 'bad_request');
  });

  it('refuses a client that offers only unknown subprotocols', async () => {
    const answer = await upgradeRequest(open.url, { 'Sec-WebSocket-Protocol': 'mqtt, graphql-ws' });
    expectRefusal(answer, 400, 'bad_request');
    expect(answer.body.error.message).toContain('switchboard.v1.json');
  });

  it('picks switchboard.v1.json among offered subprotocols, and JSON when none is offered', async () => {
    const offered = await RawClient.connect(open.wsUrl, { protocols: ['mqtt', 'switchboard.v1.json'] });
    expect(offered.ws.protocol).toBe('switchboard.v1.json');
    await offered.close();
    const none = await RawClient.connect(open.wsUrl);
    expect(none.ws.protocol).toBe('');
    expect(none.welcome.type).toBe('welcome');
    await none.close();
  });
});

describe('401 unauthorized', () => {
  it('refuses a malformed token', async () => {
    expectRefusal(await upgradeRequest(open.url, { Authorization: 'Bearer not.a.jwt' }), 401, 'unauthorized');
  });

  it('refuses a token signed with another secret', async () => {
    const token = await sign({ sub: 'u1' }, { secret: 'another-secret-entirely' });
    const answer = await upgradeRequest(open.url, { Authorization: `Bearer ${token}` });
    expectRefusal(answer, 401, 'unauthorized');
    expect(answer.body.error.message).toMatch(/signature/);
  });

  it('refuses an expired token', async () => {
    const token = await sign({ sub: 'u1' }, { expiresIn: -60 });
    const answer = await upgradeRequest(open.url, {}, `/ws?token=${token}`);
    expectRefusal(answer, 401, 'unauthorized');
    expect(answer.body.error.message).toMatch(/expired/);
  });

  it('refuses a token without sub', async () => {
    const token = await sign({});
    expectRefusal(await upgradeRequest(open.url, { Cookie: `switchboard_token=${token}` }), 401, 'unauthorized');
  });

  it('refuses a missing token when no namespace admits anonymous clients', async () => {
    expectRefusal(await upgradeRequest(closedShop.url), 401, 'unauthorized');
  });

  it('admits an anonymous client when a namespace allows it', async () => {
    const client = await RawClient.connect(open.wsUrl);
    expect(client.welcome.payload.user).toBeNull();
    await client.close();
  });
});

describe('tokens are read from header, subprotocol, query and cookie, in that order', () => {
  it.each([
    ['the Authorization header', (t: string) => ({ headers: { Authorization: `Bearer ${t}` } }), ''],
    ['a switchboard.token. subprotocol entry', (t: string) => ({ protocols: ['switchboard.v1.json', `switchboard.token.${t}`] }), ''],
    ['the token query parameter', () => ({}), '?token='],
    ['the switchboard_token cookie', (t: string) => ({ headers: { Cookie: `a=b; switchboard_token=${t}` } }), ''],
  ])('from %s', async (_where, options, query) => {
    const token = await sign({ sub: 'alice' });
    const url = query ? `${open.wsUrl}${query}${token}` : open.wsUrl;
    const client = await RawClient.connect(url, options(token));
    expect(client.welcome.payload.user).toBe('alice');
    await client.close();
  });

  it('prefers the header over the subprotocol, and the subprotocol over the query and the cookie', async () => {
    const [header, protocol, query, cookie] = await Promise.all(['from-header', 'from-protocol', 'from-query', 'from-cookie'].map((sub) => sign({ sub })));
    const protocols = ['switchboard.v1.json', `switchboard.token.${protocol}`];
    const all = await RawClient.connect(`${open.wsUrl}?token=${query}`, {
      protocols,
      headers: { Authorization: `Bearer ${header}`, Cookie: `switchboard_token=${cookie}` },
    });
    expect(all.welcome.payload.user).toBe('from-header');
    const noHeader = await RawClient.connect(`${open.wsUrl}?token=${query}`, { protocols, headers: { Cookie: `switchboard_token=${cookie}` } });
    expect(noHeader.welcome.payload.user).toBe('from-protocol');
    await Promise.all([all.close(), noHeader.close()]);
  });

  it('selects the codec, never the token entry, whatever the order offered', async () => {
    const token = await sign({ sub: 'alice' });
    const client = await RawClient.connect(open.wsUrl, { protocols: [`switchboard.token.${token}`, 'switchboard.v1.json'] });
    expect(client.ws.protocol).toBe('switchboard.v1.json');
    expect(client.welcome.payload.user).toBe('alice');
    await client.close();
  });

  it('refuses a token entry offered without a codec with 400: answering no subprotocol would fail the handshake anyway', async () => {
    const token = await sign({ sub: 'alice' });
    const answer = await upgradeRequest(open.url, { 'Sec-WebSocket-Protocol': `switchboard.token.${token}` });
    expectRefusal(answer, 400, 'bad_request');
    expect(answer.body.error.message).toContain('token entry');
  });
});

describe('403 forbidden_origin', () => {
  it('refuses an origin outside the configured list', async () => {
    const token = await sign({ sub: 'u1' });
    const answer = await upgradeRequest(closedShop.url, { Origin: 'https://evil.example', Authorization: `Bearer ${token}` });
    expectRefusal(answer, 403, 'forbidden_origin');
  });

  it('admits an origin on the configured list', async () => {
    const token = await sign({ sub: 'u1' });
    const answer = await upgradeRequest(closedShop.url, { Origin: 'https://app.example.com', Authorization: `Bearer ${token}` });
    expect(answer.status).toBe(101);
  });

  it('by default admits localhost and the server own origin, and refuses others', async () => {
    expect((await upgradeRequest(open.url, { Origin: 'http://localhost:3000' })).status).toBe(101);
    expect((await upgradeRequest(open.url, { Origin: open.url })).status).toBe(101);
    expectRefusal(await upgradeRequest(open.url, { Origin: 'https://evil.example' }), 403, 'forbidden_origin');
  });

  it('refuses Origin: null (a page opened from a file) saying why and how to allow it, and admits it once listed', async () => {
    for (const server of [open, closedShop]) {
      const answer = await upgradeRequest(server.url, { Origin: 'null' });
      expectRefusal(answer, 403, 'forbidden_origin');
      expect(answer.body.error.message).toMatch(/file:\/\/.*"null" in allowedOrigins/);
    }
    const files = await startServer({ allowedOrigins: ['null'] });
    expect((await upgradeRequest(files.url, { Origin: 'null' })).status).toBe(101);
    await files.close();
  });

  it('admits any origin with *', async () => {
    const any = await startServer({ allowedOrigins: ['*'] });
    expect((await upgradeRequest(any.url, { Origin: 'https://anywhere.example' })).status).toBe(101);
    await any.close();
  });
});

describe('404 not_found, 429 and 503', () => {
  it('refuses a wrong path', async () => {
    expectRefusal(await upgradeRequest(open.url, {}, '/socket'), 404, 'not_found');
  });

  it('refuses past the per-IP connection limit with 429', async () => {
    const small = await startServer({ limits: { connectionsPerIp: 2 } });
    const a = await RawClient.connect(small.wsUrl);
    const b = await RawClient.connect(small.wsUrl);
    expectRefusal(await upgradeRequest(small.url), 429, 'too_many_connections');
    await a.close();
    // The slot comes back once a connection has closed.
    await expect.poll(async () => (await upgradeRequest(small.url)).status).toBe(101);
    await b.close();
    await small.close();
  });

  it('refuses past the server connection cap with 503', async () => {
    const small = await startServer({ limits: { maxConnections: 1 } });
    const a = await RawClient.connect(small.wsUrl);
    expectRefusal(await upgradeRequest(small.url), 503, 'unavailable');
    await a.close();
    await small.close();
  });
});

describe('the welcome frame', () => {
  it('is the same JSON as encoding the whole frame, for anonymous and named users, on every connection', async () => {
    const token = await sign({ sub: 'wel"come\u2028' });
    const users: unknown[] = [];
    for (const url of [open.wsUrl, `${open.wsUrl}?token=${token}`, open.wsUrl]) {
      const client = await RawClient.connect(url);
      const { client: id, user } = client.welcome.payload;
      users.push(user);
      // The MessagePack welcome is the whole frame encoded: the JSON one, built from a cached tail, must say the same.
      const whole = await msgpackWelcome(url);
      expect(client.welcome).toEqual({ ...whole, payload: { ...whole.payload, client: id, user } });
      await client.close();
    }
    expect(users).toEqual([null, 'wel"come\u2028', null]);
  });
});
