import { MemoryBroker } from '../../src/brokers/memory.js';
import { brokerConformance } from './conformance.js';

// A clock the suite can move, so ttl eviction is tested without waiting.
let clock = 1_000_000;

brokerConformance('memory', {
  make: async () => new MemoryBroker({ now: () => clock }),
  // A memory broker's history dies with its process: a new one is a restart.
  loseHistory: async (broker) => {
    await broker.close();
    return new MemoryBroker({ now: () => clock });
  },
  advance: async (ms) => {
    clock += ms;
  },
  multiNode: false,
});
