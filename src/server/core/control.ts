// Server-side control that reaches every node: subscribe or unsubscribe a
// user's (or one client's) connections to a channel, or disconnect them,
// wherever they are connected. Commands travel on one internal broker channel
// whose name no client can use (`$` is not a channel-name character); each
// node applies a command to its own sessions and answers with how many it
// touched, and the sender adds the answers up.
import { randomUUID } from 'node:crypto';
import type { Broker, ChannelEvent, Revocation } from '../../brokers/broker.js';

export type Target = { user: string } | { client: string };

export type Command =
  | { op: 'subscribe' | 'unsubscribe'; target: Target; channel: string }
  | { op: 'presence_update'; target: Target; channel: string; info: unknown }
  | { op: 'disconnect'; target: Target; code: number; reason: string }
  /** Close the connections whose token the revocation covers. */
  | { op: 'revoke'; revocation: Revocation };

type Envelope = { kind: 'command'; id: string; from: string; command: Command } | { kind: 'answer'; id: string; to: string; node: string; count: number };

export const CONTROL_CHANNEL = '$control';

interface Waiting {
  answers: Map<string, number>;
  expected: number | null;
  done: () => void;
}

export class Control {
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly broker: Broker,
    private readonly nodeId: string,
    /** Apply a command to this node's sessions; resolves to how many it touched. */
    private readonly apply: (command: Command) => Promise<number>,
    /** How long to wait for every node's answer. */
    private readonly timeout: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): Promise<void> {
    return this.broker.subscribe(CONTROL_CHANNEL);
  }

  /** Run `command` on every node; resolves to the total touched among the nodes that answered in time. */
  async send(command: Command): Promise<number> {
    const id = randomUUID();
    const nodes = await this.broker.nodes().catch(() => null);
    const entry: Waiting = { answers: new Map(), expected: nodes ? nodes.length : null, done: () => {} };
    const finished = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.timeout);
      timer.unref();
      entry.done = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.waiting.set(id, entry);
    try {
      await this.broker.publish(CONTROL_CHANNEL, { payload: { kind: 'command', id, from: this.nodeId, command } satisfies Envelope }, null);
      // Without the list of nodes (the broker could not answer), only this node's answer is awaited.
      if (entry.expected === null) entry.expected = 1;
      if (entry.answers.size >= entry.expected) entry.done();
      await finished;
    } finally {
      this.waiting.delete(id);
    }
    let total = 0;
    for (const count of entry.answers.values()) total += count;
    return total;
  }

  /** An event of the control channel arrived from the broker. */
  readonly onEvent = (event: ChannelEvent): void => {
    if (event.kind !== 'publication') return;
    const envelope = event.publication.payload as Envelope;
    if (envelope.kind === 'answer') {
      const entry = envelope.to === this.nodeId ? this.waiting.get(envelope.id) : undefined;
      if (!entry) return;
      entry.answers.set(envelope.node, envelope.count);
      if (entry.expected !== null && entry.answers.size >= entry.expected) entry.done();
      return;
    }
    this.apply(envelope.command)
      .then((count) => {
        const answer: Envelope = { kind: 'answer', id: envelope.id, to: envelope.from, node: this.nodeId, count };
        return this.broker.publish(CONTROL_CHANNEL, { payload: answer }, null);
      })
      .catch(this.onError);
  };
}
