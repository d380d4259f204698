// examples/fastify.mjs: Fastify embedding Switchboard beside a plain `ws` endpoint and Socket.IO.
// The example imports the built package (npm run build).
import { afterAll, beforeAll, it } from 'vitest';
import { start } from '../../examples/fastify.mjs';
import { allAtOnce, appRoutesWork, plainWebSocketWorks, quiet, socketIOWorks, switchboardWorks, type RunningExample } from './exercise.js';

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
