// The core's own tests drive it through its door with a fake transport, and
// look at its parts from inside: the only tests that may (the boundary test
// lets test/core/ import past core/index.ts).
import { pino } from 'pino';
import type { Broker } from '../../src/brokers/broker.js';
import { TokenVerifier } from '../../src/server/auth.js';
import type { Config } from '../../src/server/config.js';
import { Core, type Connection } from '../../src/server/core/index.js';
import type { Hub } from '../../src/server/core/hub.js';
import type { Namespaces } from '../../src/server/core/namespaces.js';
import type { OutboundBudget } from '../../src/server/core/outbound-budget.js';
import type { RpcRegistry } from '../../src/server/core/rpc.js';
import type { Session } from '../../src/server/core/session.js';
import { LimitHits } from '../../src/server/limit-hits.js';

/** A core over `broker`, with its own limit-hit counts and, for rate limits, a clock. */
export function makeCore(config: Config, broker: Broker, clock?: () => number): Core {
  const deps = { config, broker, logger: pino({ level: 'silent' }), verifier: new TokenVerifier(config), limitHits: new LimitHits() };
  return new Core(clock ? { ...deps, clock } : deps);
}

/** The core's parts, as its own tests look at them. */
export function inside(core: Core): { hub: Hub; namespaces: Namespaces; rpc: RpcRegistry; outbound: OutboundBudget; limitHits: LimitHits } {
  return core as unknown as ReturnType<typeof inside>;
}

/** The session behind a connection the door handed out. */
export function sessionOf(connection: Connection): Session {
  return connection as Session;
}
