// Switchboard as shipped (the built package), with history on the channel and
// every check on; only the rate limit is raised for the publisher.
import { pino } from 'pino';
import { createServer } from '../../dist/server/index.js';
import { reportReady } from './common.mjs';

const server = createServer({
  logger: pino({ level: 'silent' }),
  limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, connectionsPerIp: 100_000, pendingConnectionsPerIp: 100_000 },
  namespaces: { '': { history: { size: 100, ttl: 300_000 } } },
});
const { port } = await server.listen(0, '127.0.0.1');
reportReady(port, '/ws');
