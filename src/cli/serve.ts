// `switchboard serve`: start a server from flags, environment and config file,
// and drain it on SIGTERM or SIGINT.
import { createServer } from '../server/server.js';
import { serveConfig } from './options.js';

export async function serve(argv: string[]): Promise<void> {
  const config = serveConfig(argv, process.env);
  const server = createServer(config);
  const { url } = await server.listen();
  // Plain text, so scripts can wait for it; logs that follow are JSON lines.
  process.stdout.write(`switchboard listening on ${url}\n`);
  server.logger.info({ url, path: server.config.path, broker: server.core.broker.name }, 'listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, 'draining');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.logger.error({ err: error }, 'drain failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
