// Switchboard with the Redis broker (SWITCHBOARD_REDIS, default the local
// Redis): every publication goes through a Lua script and Redis pub/sub.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { RedisBroker } from '../../dist/brokers/redis.js';
import { createServer } from '../../dist/server/index.js';
import { reportReady } from './common.mjs';

const server = createServer({
  logger: pino({ level: 'silent' }),
  broker: new RedisBroker({ url: process.env.SWITCHBOARD_REDIS ?? 'redis://127.0.0.1:6379', prefix: `bench-${randomUUID()}` }),
  limits: { messagesPerSecond: 1_000_000, burst: 1_000_000, connectionsPerIp: 100_000, pendingConnectionsPerIp: 100_000 },
  namespaces: { '': { history: { size: 100, ttl: 300_000 } } },
});
const { port } = await server.listen(0, '127.0.0.1');
reportReady(port, '/ws');
