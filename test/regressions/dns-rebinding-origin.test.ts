// Issue 19, item 7: with allowedOrigins empty the server's "own origin" came
// from the client's Host header, so a page whose name an attacker re-pointed
// at 127.0.0.1 (DNS rebinding) sent the same name as Origin and Host and got
// in. The own origin now counts only when Host names this server: an IP
// address, localhost, or the host it listens on.
import { afterEach, expect, it } from 'vitest';
import { upgradeRequest } from '../helpers/http.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.close();
  srv = null;
});

it('refuses a rebound page whose Origin and Host carry its own name, with a message that says what to configure', async () => {
  srv = await startServer();
  const port = new URL(srv.url).port;
  const answer = await upgradeRequest(srv.url, { Host: `rebound.example:${port}`, Origin: `http://rebound.example:${port}` });
  expect(answer.status).toBe(403);
  expect(answer.body.error.code).toBe('forbidden_origin');
  expect(answer.body.error.message).toMatch(/not an address of this server.*allowedOrigins/);
});

it('still admits its own origin by IP address or localhost, IPv6 included', async () => {
  srv = await startServer();
  const port = new URL(srv.url).port;
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `app.localhost:${port}`, `[::1]:${port}`, `10.1.2.3:${port}`]) {
    expect((await upgradeRequest(srv.url, { Host: host, Origin: `http://${host}` })).status, host).toBe(101);
  }
});

it('admits the rebound name once it is listed in allowedOrigins', async () => {
  srv = await startServer({ allowedOrigins: ['http://app.example:8080'] });
  expect((await upgradeRequest(srv.url, { Host: 'app.example:8080', Origin: 'http://app.example:8080' })).status).toBe(101);
});
