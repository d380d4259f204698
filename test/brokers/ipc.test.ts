// The workers' broker (`serve --workers`): each node is an IpcBroker talking to
// one BrokerHost over a real message channel (a MessagePort pair carries the
// same structured clones as a cluster worker's IPC channel). The cluster
// itself, with processes, is tested in test/server/workers.test.ts.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll } from 'vitest';
import type { Broker } from '../../src/brokers/broker.js';
import { BrokerHost } from '../../src/brokers/ipc-host.js';
import { IpcBroker } from '../../src/brokers/ipc.js';
import { portEndpoint } from '../../src/brokers/ipc-endpoint.js';
import { brokerConformance } from './conformance.js';

// A clock the suite can move for the history's ttl; leases run on the wall clock.
let clock = 1_000_000;
const newHost = async () => {
  const host = new BrokerHost({ now: () => clock });
  await host.start();
  return host;
};
let host = await newHost();
const ports = new Map<Broker, MessagePort>();

function node(on: BrokerHost): Broker {
  const { port1, port2 } = new MessageChannel();
  on.accept(portEndpoint(port1));
  const broker = new IpcBroker(portEndpoint(port2));
  ports.set(broker, port2);
  // A closed node's channel is closed too, so nothing keeps the test process alive.
  const close = broker.close.bind(broker);
  broker.close = async () => {
    await close();
    port2.close();
  };
  return broker;
}

afterAll(() => host.close());

brokerConformance('ipc (workers)', {
  make: async () => node(host),
  // History lives in the primary: losing it is the primary's restart.
  loseHistory: async (broker) => {
    await broker.close();
    await host.close();
    host = await newHost();
    return node(host);
  },
  advance: async (ms) => {
    clock += ms;
  },
  multiNode: true,
  // A SIGKILLed worker: its channel closes with no goodbye.
  crash: (broker) => ports.get(broker)!.close(),
});
