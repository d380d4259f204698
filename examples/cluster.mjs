// @ts-check
// An app of its own on every core: a Node cluster whose workers each run an
// http.Server with Switchboard attached, sharing channels through the
// primary's broker over IPC (no Redis). `serve --workers` does the same for
// Switchboard alone; this is for an app that owns its server.
//
//   npm run build && node examples/cluster.mjs
import cluster from 'node:cluster';
import http from 'node:http';
import { availableParallelism } from 'node:os';
import { createServer } from 'switchboard';
import { BrokerHost, IpcBroker, childEndpoint, parentEndpoint } from 'switchboard/workers';

const port = Number(process.env.PORT ?? 3000);
const workers = Number(process.env.WORKERS ?? availableParallelism());

if (cluster.isPrimary) {
  // Structured clones keep binary payloads; JSON would turn them into objects.
  cluster.setupPrimary({ serialization: 'advanced' });
  const host = new BrokerHost();
  await host.start();
  /** @type {Map<import('switchboard/workers').IpcEndpoint, import('node:cluster').Worker>} */
  const byEndpoint = new Map();
  // A worker the broker dropped (stuck, or not reading its channel) is replaced.
  host.onStuck = (endpoint) => byEndpoint.get(endpoint)?.process.kill('SIGKILL');
  let listening = 0;
  let stopping = false;
  const fork = () => {
    const worker = cluster.fork();
    const endpoint = childEndpoint(worker.process);
    byEndpoint.set(endpoint, worker);
    host.accept(endpoint);
    worker.on('message', (message) => {
      if (message?.app === 'listening' && ++listening === workers) console.log(`app listening on ${message.url}`);
    });
    worker.on('exit', () => {
      byEndpoint.delete(endpoint);
      if (!stopping) fork();
    });
  };
  for (let i = 0; i < workers; i++) fork();
  // Drain every worker, then stop.
  process.on('SIGTERM', () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send({ app: 'drain' });
    cluster.on('exit', () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0));
  });
} else {
  const switchboard = createServer({ broker: new IpcBroker(parentEndpoint()) });
  const server = http.createServer(switchboard.httpServerOptions(), (req, res) => {
    switchboard.handleRequest(req, res).then((handled) => {
      if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from worker ${process.pid}\n`);
    });
  });
  await switchboard.attach(server);
  server.listen(port, '127.0.0.1', () => {
    const address = /** @type {import('node:net').AddressInfo} */ (server.address());
    process.send?.({ app: 'listening', url: `http://127.0.0.1:${address.port}` });
  });
  process.on('message', (message) => {
    if (/** @type {{ app?: string }} */ (message)?.app === 'drain') switchboard.close().then(() => process.exit(0));
  });
}
