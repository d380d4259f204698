// Messages addressed to one node of the cluster, over the broker's plain
// pub/sub: each node subscribes to its own `$node:<id>` channel (no history).
// An HTTP-stream POST that a load balancer sent to another node reaches the
// session's node this way (docs/scaling.md, "HTTP streaming").
import type { Broker, ChannelEvent } from '../../brokers/broker.js';

const PREFIX = '$node:';

export class Mailbox {
  private handler: (message: unknown) => void = () => {};

  constructor(
    private readonly broker: Broker,
    private readonly nodeId: string,
  ) {}

  /** The channel this node's messages arrive on. */
  get channel(): string {
    return PREFIX + this.nodeId;
  }

  start(): Promise<void> {
    return this.broker.subscribe(this.channel);
  }

  /** Where this node's messages go (one handler: the HTTP-stream transport's). */
  listen(handler: (message: unknown) => void): void {
    this.handler = handler;
  }

  /** Send `message` to the node `node`; delivered at most once, and only if that node listens. */
  async send(node: string, message: unknown): Promise<void> {
    await this.broker.publish(PREFIX + node, { payload: message }, null);
  }

  readonly onEvent = (event: ChannelEvent): void => {
    if (event.kind === 'publication') this.handler(event.publication.payload);
  };
}
