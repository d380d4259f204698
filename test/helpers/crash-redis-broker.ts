// Stop a RedisBroker as a SIGKILLed process would: no more lease renewals or
// presence refreshes, no cleanup, its connections cut. For the conformance
// case of what the surviving nodes do. The broker ships no such method: a
// test stops its timers and cuts its connections from here.
import type { Redis } from 'ioredis';
import type { Broker } from '../../src/brokers/broker.js';

interface RedisBrokerInside {
  stopped: boolean;
  lease: { timer: NodeJS.Timeout | null } | null;
  refresher: NodeJS.Timeout | null;
  prober: NodeJS.Timeout | null;
  commands: Redis | null;
  subscriber: Redis | null;
}

export function crashRedisBroker(broker: Broker): void {
  const inside = broker as unknown as RedisBrokerInside;
  if (!('lease' in inside) || !('commands' in inside)) throw new Error('not a RedisBroker: its fields have moved; update this helper');
  inside.stopped = true; // no reviving of the cut connections
  if (inside.lease?.timer) clearInterval(inside.lease.timer);
  if (inside.refresher) clearInterval(inside.refresher);
  if (inside.prober) clearInterval(inside.prober);
  inside.commands?.disconnect();
  inside.subscriber?.disconnect();
}
