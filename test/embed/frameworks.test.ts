// examples/{express,fastify,hono}.mjs: each framework embedding Switchboard
// beside a plain `ws` endpoint and Socket.IO on the same server. The examples
// import the built package (npm run build).
import { afterAll, beforeAll, describe, it } from 'vitest';
import * as express from '../../examples/express.mjs';
import * as fastify from '../../examples/fastify.mjs';
import * as hono from '../../examples/hono.mjs';
import { allAtOnce, appRoutesWork, plainWebSocketWorks, quiet, socketIOWorks, switchboardWorks, type RunningExample } from './exercise.js';

describe.each([
  ['Express', express.start],
  ['Fastify', fastify.start],
  ["Hono's Node server", hono.start],
])('%s', (_name, start) => {
  let app: RunningExample;
  beforeAll(async () => {
    app = await start({ port: 0, host: '127.0.0.1', logger: quiet });
  });
  afterAll(() => app?.close());

  it("keeps the app's own routes, /api/users included", () => appRoutesWork(app));
  it("serves Switchboard's routes and WebSockets", () => switchboardWorks(app));
  it('keeps a plain ws endpoint working beside it', () => plainWebSocketWorks(app));
  it('keeps Socket.IO working beside it', () => socketIOWorks(app));
  it('serves all four at once', () => allAtOnce(app));
});
