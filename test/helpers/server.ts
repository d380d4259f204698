// Start a real server on a free port for one test file.
import { pino } from 'pino';
import { createServer, type ServerOptions, type SwitchboardServer } from '../../src/server/index.js';

export interface TestServer {
  server: SwitchboardServer;
  url: string;
  wsUrl: string;
  close: () => Promise<void>;
}

export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const server = createServer({ logger: pino({ level: 'silent' }), ...options });
  const { url } = await server.listen(0, '127.0.0.1');
  return {
    server,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}${server.config.path}`,
    close: () => server.close(),
  };
}
