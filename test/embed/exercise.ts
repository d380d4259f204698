// What every framework example must show, over real sockets: the app's own
// routes (/api/users among them) work; Switchboard's HTTP routes and its
// WebSockets work; and the app's two other WebSocket endpoints, a plain `ws`
// echo on /echo and Socket.IO, exchange messages beside it.
import { pino } from 'pino';
import { io as socketIO } from 'socket.io-client';
import WebSocket from 'ws';
import { expect } from 'vitest';
import { connect } from '../../src/client/node.js';

export interface RunningExample {
  url: string;
  /** Where the example mounts Switchboard's HTTP routes ('' for the root). */
  prefix: string;
  apiKey: string | null;
  close: () => Promise<void>;
}

export type StartExample = (options: { port: number; host: string; logger: unknown }) => Promise<RunningExample>;

export const quiet = pino({ level: 'silent' });

/** Resolves once `promise` settles, or rejects after `ms`: a deadline, not a wait. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export async function appRoutesWork(app: RunningExample): Promise<void> {
  const users = await fetch(`${app.url}/api/users`);
  expect(users.status).toBe(200);
  expect(await users.json()).toEqual([
    { id: 1, name: 'Ada' },
    { id: 2, name: 'Grace' },
  ]);
  const created = await fetch(`${app.url}/api/users`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'Linus' }),
  });
  expect(created.status).toBe(201);
  expect(await created.json()).toEqual({ id: 3, name: 'Linus' });
}

export async function switchboardWorks(app: RunningExample): Promise<void> {
  expect(await (await fetch(`${app.url}${app.prefix}/healthz`)).json()).toEqual({ status: 'ok' });
  const client = connect(`${app.url.replace('http', 'ws')}/ws`);
  try {
    const got: unknown[] = [];
    await client.subscribe('news', (payload) => got.push(payload)).ready;
    await client.publish('news', { from: 'a client' });
    // Through the HTTP API, after whatever body parser the framework runs.
    const published = await fetch(`${app.url}${app.prefix}/api/publish`, {
      method: 'POST',
      headers: { Authorization: `apikey ${app.apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel: 'news', payload: { from: 'the API' } }),
    });
    expect(published.status).toBe(200);
    await expect.poll(() => got).toEqual([{ from: 'a client' }, { from: 'the API' }]);
  } finally {
    client.close();
  }
}

export async function plainWebSocketWorks(app: RunningExample): Promise<void> {
  const ws = new WebSocket(`${app.url.replace('http', 'ws')}/echo`);
  const errors: Error[] = [];
  ws.on('error', (error) => errors.push(error));
  const answers: string[] = [];
  ws.on('message', (data) => answers.push(data.toString()));
  await within(new Promise((resolve) => ws.once('open', resolve)), 5_000, 'ws open');
  for (const text of ['one', 'two', 'three']) ws.send(text);
  await expect.poll(() => answers).toEqual(['echo one', 'echo two', 'echo three']);
  const closed = new Promise<number>((resolve) => ws.once('close', resolve));
  ws.close(1000);
  // A clean close: no stray bytes from anyone else on this socket.
  expect(await within(closed, 5_000, 'ws close')).toBe(1000);
  expect(errors).toEqual([]);
}

export async function socketIOWorks(app: RunningExample): Promise<void> {
  // WebSocket transport only, so the upgrade itself shares the server with Switchboard's.
  const socket = socketIO(app.url, { transports: ['websocket'], reconnection: false });
  try {
    await within(new Promise<void>((resolve, reject) => (socket.once('connect', resolve), socket.once('connect_error', reject))), 5_000, 'Socket.IO connect');
    for (const text of ['one', 'two']) {
      expect(await within(socket.emitWithAck('echo', text), 5_000, 'Socket.IO ack')).toBe(`echo ${text}`);
    }
  } finally {
    socket.close();
  }
}

/** Every check at once, all endpoints open together. */
export async function allAtOnce(app: RunningExample): Promise<void> {
  await Promise.all([appRoutesWork(app), switchboardWorks(app), plainWebSocketWorks(app), socketIOWorks(app)]);
}
