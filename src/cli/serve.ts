// `switchboard serve`: start a server from flags, environment and config file,
// and drain it on SIGTERM or SIGINT.
import cluster from 'node:cluster';
import { parseConfig } from '../server/config.js';
import { drainAndExit } from '../server/drain-and-exit.js';
import { createServer } from '../server/server.js';
import { startBanner } from '../server/start-banner.js';
import type { Command } from './args.js';
import { serveConfig, serveFlags } from './options.js';

export const serve: Command = {
  spec: {
    name: 'serve',
    summary: 'Run a Switchboard server. Flags override SWITCHBOARD_<FLAG> variables, which override the config file.',
    args: '',
    positionals: [0, 0],
    flags: serveFlags,
    notes:
      'Prints "switchboard listening on http://HOST:PORT" once it accepts connections, then the demo page\'s URL and, with an\nAPI key, the admin dashboard\'s, then JSON log lines (level from SWITCHBOARD_LOG_LEVEL). SIGTERM or SIGINT drains\nand exits 0; a bad config exits 2.',
    examples: [
      'switchboard serve --port 8080 --api-key dev-key',
      'switchboard serve --config switchboard.json --jwt-secret "$JWT_SECRET"',
      'SWITCHBOARD_REDIS=redis://127.0.0.1:6379 switchboard serve --port 0',
    ],
  },
  async run({ values }) {
    const input = serveConfig(values);
    // The workers' modules (cluster, IPC, the merged metrics) are loaded only by `--workers`.
    if (cluster.isWorker) return (await import('../server/workers/worker.js')).runWorker(input);
    const config = parseConfig(input);
    if (config.workers !== 1) {
      const { Primary, workerCount } = await import('../server/workers/primary.js');
      const workers = workerCount(config.workers);
      if (workers > 1) return new Primary(config, workers).start();
    }
    const server = createServer(input);
    const { url } = await server.listen();
    // Plain text, so scripts can wait for it; logs that follow are JSON lines.
    process.stdout.write(startBanner(url, server.config));
    server.logger.info({ url, path: server.config.path, broker: server.brokerName }, 'listening');

    const stop = drainAndExit(server, server.logger);
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  },
};
