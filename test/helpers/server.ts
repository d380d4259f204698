// Start a real server on a free port for one test file.
import { pino } from 'pino';
import { createServer, type ServerOptions, type SwitchboardServer } from '../../src/server/index.js';

export interface TestServer {
  server: SwitchboardServer;
  url: string;
  wsUrl: string;
  close: () => Promise<void>;
}

/**
 * A server in the test's own process: its event loop is the test's too, so a
 * test that opens a thousand raw connections at once would lag it past
 * admission.maxLagMs and see 1013s it did not ask for. Admission by lag is
 * off here unless a test sets it (test/server/admission.test.ts does).
 */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const admission = { maxLagMs: 3_600_000, ...options.admission };
  const server = createServer({ logger: pino({ level: 'silent' }), ...options, admission });
  const { url } = await server.listen(0, '127.0.0.1');
  return {
    server,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}${server.config.path}`,
    close: () => server.close(),
  };
}
