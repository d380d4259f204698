// How a `serve` process stops (one process, or one worker of `--workers`):
// the first reason drains the server, later ones are ignored, and the process
// exits 0 once the drain is done, 1 if it failed.
import { loggable, type Logger } from './logger.js';
import type { SwitchboardServer } from './server.js';

/** A function to call with the reason to stop (a signal's name, "primary"...). */
export function drainAndExit(server: SwitchboardServer, logger: Logger): (signal: string) => void {
  let stopping = false;
  return (signal) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: loggable(error) }, 'drain failed');
        process.exit(1);
      },
    );
  };
}
