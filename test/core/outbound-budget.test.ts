// limits.outboundBytes: the bytes queued for all of a node's connections
// together are bounded. Driven through the Transport seam: fake transports
// that never drain stand for clients that stopped reading.
import { expect, it } from 'vitest';
import { MemoryBroker } from '../../src/brokers/memory.js';
import { jsonCodec } from '../../src/protocol/codec.js';
import { ANONYMOUS } from '../../src/server/auth.js';
import { parseConfig } from '../../src/server/config.js';
import { inside, makeCore, sessionOf } from './harness.js';
import { FakeTransport } from '../helpers/fake-transport.js';

it('closes the connections holding the most with 4008 while the node is over its budget, and leaves the rest', async () => {
  const core = makeCore(parseConfig({ limits: { outboundBytes: 10_000, outboundBufferBytes: 1_000_000 } }), new MemoryBroker());
  await core.start();
  const clients = [6_000, 4_000, 3_000, 1_000].map((queued) => {
    const transport = new FakeTransport();
    sessionOf(core.open(transport, { identity: ANONYMOUS, codec: jsonCodec, ip: '127.0.0.1' }));
    transport.bufferedAmount += queued;
    return transport;
  });
  const queued = () => clients.reduce((sum, t) => sum + t.bufferedAmount, 0);
  expect(queued()).toBeGreaterThan(14_000);

  inside(core).outbound.check();
  // 14,000+ queued against 10,000: the largest (6,000) goes, the rest fits.
  expect(clients.map((t) => t.closedWith?.code ?? null)).toEqual([4008, null, null, null]);
  expect(clients[0]!.closedWith!.reason).toBe('node outbound budget over its limit');
  expect(inside(core).limitHits.get('outboundBytes')).toBe(1);
  expect(inside(core).outbound.total).toBe(queued());

  // Under the budget nothing more is closed.
  inside(core).outbound.check();
  expect(clients.filter((t) => t.closedWith).length).toBe(1);
  await core.stop();
});
