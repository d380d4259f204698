// The proof that a backend in another language steers Switchboard: the
// standard-library Python backend in examples/backend-python answers every
// proxy call and checks every signature, and a real SDK client goes through
// connect, a server-side subscription, subscribe, a rewritten publish and rpc.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type SwitchboardClient } from '../../src/client/node.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { requireCommand } from '../helpers/services.js';
import { upgradeRequest } from '../helpers/http.js';

const SECRET = 'whsec_BK0uydnzDFWrjc0lxQhoSwCMJoyk84VL';
const hasPython = requireCommand('python3', 'apt-get install python3');

let python: ChildProcess | null = null;
let srv: TestServer | null = null;

/** Start the example on a free port; its URL once it prints that it listens. */
async function startPython(secret: string): Promise<string> {
  python = spawn('python3', ['examples/backend-python/server.py', '0'], {
    env: { ...process.env, SWITCHBOARD_PROXY_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: python.stdout! });
  const [line] = (await Promise.race([once(lines, 'line'), once(python, 'exit').then(() => ['exited'])])) as string[];
  const match = /listening on (http:\/\/\S+)/.exec(line ?? '');
  if (!match) throw new Error(`the Python backend did not start: ${line}`);
  return match[1]!;
}

/** `ws` with a session cookie, as a browser on the app's origin would send it. */
function withCookie(cookie: string): typeof WebSocket {
  return class extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, { headers: { cookie } });
    }
  } as typeof WebSocket;
}

describe.skipIf(!hasPython)('the Python backend example', () => {
  beforeAll(async () => {
    const backend = await startPython(SECRET);
    const at = (path: string) => ({ url: `${backend}/sb/${path}` });
    srv = await startServer({
      logger: pino({ level: 'silent' }),
      namespaces: {
        '': { subscribe: 'anyone', publish: 'anyone' },
        chat: { subscribe: 'proxy', publish: 'proxy', history: { size: 10, ttl: 60_000 }, presence: true },
        inbox: { subscribe: 'authenticated', publish: 'server' },
      },
      proxy: {
        connect: at('connect'),
        refresh: at('refresh'),
        subscribe: at('subscribe'),
        publish: at('publish'),
        rpc: at('rpc'),
        headers: ['cookie'],
        secret: SECRET,
      },
    });
  });
  afterAll(async () => {
    await srv?.close();
    python?.kill();
    if (python && python.exitCode === null && python.signalCode === null) await once(python, 'exit');
  });

  it('connects, subscribes, publishes through a rewrite and calls rpc, all decided in Python', async () => {
    const client: SwitchboardClient = connect(srv!.wsUrl, { WebSocket: withCookie('session=s-ann') as never });
    const inbox = new Promise<string>((resolve) => client.on('subscription', (subscription) => resolve(subscription.channel)));
    const welcome = await new Promise<{ user: string | null }>((resolve) => client.on('connected', resolve));
    expect(welcome.user).toBe('ann');
    expect(await inbox).toBe('inbox:#ann');

    const received: unknown[] = [];
    const room = client.subscribe('chat:staff-room', (payload) => received.push(payload));
    await room.ready;
    const presence = await client.presence('chat:staff-room');
    expect(presence.clients[0]!.info).toEqual({ name: 'Ann' });

    await client.publish('chat:staff-room', { text: 'darn it' });
    await expect.poll(() => received).toHaveLength(1);
    expect(received[0]).toMatchObject({ text: 'd**n it', by: 'ann' });

    expect(await client.rpc('add', { a: 2, b: 40 })).toEqual({ sum: 42 });
    expect(await client.rpc('whoami', null)).toMatchObject({ user: 'ann', protocol: 'json', client: client.session!.client });
    await expect(client.rpc('nope', null)).rejects.toMatchObject({ code: 'not_found' });
    await expect(client.publish('chat:staff-room', 'not an object')).rejects.toMatchObject({ code: 'bad_request' });
    client.close();
  });

  it('refuses as the backend says: no session 401, a staff room 403 for others, a banned user closed 4003', async () => {
    expect((await upgradeRequest(srv!.url)).status).toBe(401);
    const bob: SwitchboardClient = connect(srv!.wsUrl, { WebSocket: withCookie('session=s-bob') as never });
    await expect(bob.subscribe('chat:staff-room', () => {}).ready).rejects.toMatchObject({ code: 'forbidden', message: 'staff only' });
    bob.close();
    const eve: SwitchboardClient = connect(srv!.wsUrl, { WebSocket: withCookie('session=s-eve') as never, reconnect: false });
    const closed = await new Promise<{ code?: number }>((resolve) => eve.on('closed', resolve as never));
    expect(closed.code).toBe(4003);
  });

  it('the backend refuses an unsigned or wrongly signed call, which the client sees as unavailable', async () => {
    // A second server with another secret: the backend answers 401, a failed call.
    const backendUrl = srv!.server.config.proxy!.rpc!.url.replace(/\/sb\/rpc$/, '');
    const other = await startServer({
      logger: pino({ level: 'silent' }),
      proxy: { rpc: { url: `${backendUrl}/sb/rpc` }, secret: 'whsec_' + Buffer.from('another key of 32 bytes length!!').toString('base64') },
    });
    const client: SwitchboardClient = connect(other.wsUrl);
    await expect(client.rpc('add', { a: 1, b: 1 })).rejects.toMatchObject({ code: 'unavailable' });
    client.close();
    await other.close();
  });
});
