// A real broker whose subscribe and history answers yield to the event loop
// first, as a network broker's do: publications then arrive while a
// subscription is being set up, which the hub must buffer and de-duplicate.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Broker } from '../../src/brokers/broker.js';
import { DelegatingBroker, type BrokerOperation } from '../../src/brokers/delegating.js';

export class SlowAnswers extends DelegatingBroker {
  constructor(
    inner: Broker,
    private readonly turns = 3,
  ) {
    super(inner);
  }

  private async wait() {
    for (let i = 0; i < this.turns; i++) await nextTurn();
  }

  protected override async around<T>(operation: BrokerOperation, call: () => Promise<T>): Promise<T> {
    if (operation !== 'subscribe' && operation !== 'history') return call();
    if (operation === 'history') await this.wait();
    const result = await call();
    // The answer travels back while more publications are delivered.
    await this.wait();
    return result;
  }
}
