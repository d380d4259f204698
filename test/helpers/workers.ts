// Clients spread over the workers of a cluster on one port: the primary hands
// connections to workers in turn, and each welcome names its node.
import { expect } from 'vitest';
import { RawClient } from './raw-client.js';

/** Connect until there is one client on each of `workers` nodes; every client made is pushed to `opened`, for closing. */
export async function clientPerWorker(wsUrl: string, workers: number, opened: RawClient[]): Promise<RawClient[]> {
  const byNode = new Map<string, RawClient>();
  for (let i = 0; i < workers * 10 && byNode.size < workers; i++) {
    const client = await RawClient.connect(wsUrl);
    opened.push(client);
    byNode.set(client.welcome.payload.server, client);
  }
  expect(byNode.size).toBe(workers);
  return [...byNode.values()];
}
