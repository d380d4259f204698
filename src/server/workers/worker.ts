// One worker of `serve --workers N` (docs/scaling.md, "Workers"): a whole
// Switchboard node in its own process, sharing the port with its siblings.
// With the in-memory broker its broker is the primary's (over IPC); with Redis
// it connects to Redis itself. It drains when the primary says so or on a
// signal, and exits when the primary is gone.
import cluster from 'node:cluster';
import { prometheusContentType } from 'prom-client';
import { parentEndpoint, type IpcMessage } from '../../brokers/ipc-endpoint.js';
import { IpcBroker } from '../../brokers/ipc.js';
import type { ConfigInput } from '../config.js';
import { drainAndExit } from '../drain-and-exit.js';
import { createLogger } from '../logger.js';
import { createServer } from '../server.js';
import type { FromPrimary, FromWorker } from './messages.js';

/** How long a worker waits for the primary's merged /metrics before it fails the scrape. */
const METRICS_TIMEOUT = 5_000;

export async function runWorker(input: ConfigInput): Promise<void> {
  const endpoint = parentEndpoint();
  const send = (message: FromWorker) => endpoint.send(message);
  const logger = createLogger().child({ worker: cluster.worker?.id });
  const timeout = input.brokerTimeout ?? 2_000;
  const waiting = new Map<number, (text: string) => void>();
  let nextId = 1;

  const server = createServer({
    ...input,
    ...(input.redis ? {} : { broker: new IpcBroker(endpoint, { timeout }) }),
    logger,
    metricsView: {
      contentType: prometheusContentType,
      metrics: () =>
        new Promise<string>((resolve, reject) => {
          const id = nextId++;
          const timer = setTimeout(() => {
            waiting.delete(id);
            reject(new Error("the primary did not merge the workers' metrics in time"));
          }, METRICS_TIMEOUT);
          waiting.set(id, (text) => {
            waiting.delete(id);
            clearTimeout(timer);
            resolve(text);
          });
          send({ sb: 'cluster-metrics', id });
        }),
    },
  });

  const stop = drainAndExit(server, logger);

  endpoint.onMessage((raw: IpcMessage) => {
    const message = raw as FromPrimary;
    if (message.sb === 'drain') stop('primary');
    else if (message.sb === 'cluster-metrics') waiting.get(message.id)?.(message.text);
    else if (message.sb === 'metrics-of') {
      server.metricsSnapshot().then(
        (metrics) => send({ sb: 'metrics', id: message.id, metrics }),
        () => send({ sb: 'metrics', id: message.id, metrics: [] }),
      );
    }
  });
  // Without the primary (it holds the port and, with the memory broker, every
  // channel) there is nothing to serve: Node's cluster exits a worker at once
  // when its primary's channel closes (test: "primary is SIGKILLed").
  // A terminal's Ctrl-C reaches the whole process group; the primary drains us too.
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const { url } = await server.listen();
  send({ sb: 'listening', url });
}
