// Counts each time a bound is hit (docs/security.md lists them), so that an
// operator sees in /metrics which limit a hostile or broken client ran into.

/** The bounds a client can run into, named after their config keys where they have one. */
export type LimitName =
  | 'maxPayload'
  | 'maxDepth'
  | 'msgpackStructure'
  | 'messagesPerSecond'
  | 'bytesPerSecond'
  | 'outboundBufferBytes'
  | 'outboundBytes'
  | 'subscriptionsPerConnection'
  | 'requestsInFlight'
  | 'maxReplyBytes'
  | 'historyBytesPerChannel'
  | 'historyBytes'
  | 'maxChannels'
  | 'connectionsPerIp'
  | 'maxConnections'
  | 'pendingConnectionsPerIp'
  | 'handshakeTimeout'
  | 'headerSize'
  | 'brokerTimeout'
  | 'idempotencyKeysPerChannel'
  | 'idempotencyBytes'
  | 'latestThresholdBytes'
  | 'revocations'
  | 'sseChannels'
  | 'presenceInfoBytes';

export class LimitHits {
  private readonly counts = new Map<LimitName, number>();

  hit(name: LimitName, times = 1): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + times);
  }

  get(name: LimitName): number {
    return this.counts.get(name) ?? 0;
  }

  entries(): IterableIterator<[LimitName, number]> {
    return this.counts.entries();
  }
}
