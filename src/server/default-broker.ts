// The broker a server gets when the application passes none: Redis (single,
// Sentinel or Cluster) when the config names one, else the in-memory broker.
import type { Broker } from '../brokers/broker.js';
import { MemoryBroker, type MemoryBrokerOptions } from '../brokers/memory.js';
import { RedisBroker } from '../brokers/redis.js';
import type { Config } from './config.js';

export function defaultBroker(config: Config): Broker {
  if (config.redis) return new RedisBroker({ target: config.redis, timeout: config.brokerTimeout });
  return new MemoryBroker(memoryBrokerOptions(config));
}

/** The in-memory broker's bounds from the config (also the workers' shared broker in the primary). */
export function memoryBrokerOptions(config: Config): MemoryBrokerOptions {
  return {
    maxBytes: config.limits.historyBytes,
    maxChannels: config.limits.maxChannels,
    idempotencyKeysPerChannel: config.limits.idempotencyKeysPerChannel,
    idempotencyBytes: config.limits.idempotencyBytes,
  };
}
