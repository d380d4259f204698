// The broker as the hub sees it: every operation a client's request waits on
// is timed, so that /metrics shows how long the broker takes to answer.
import { DelegatingBroker, type BrokerOperation } from '../../brokers/delegating.js';

/** Told of every timed operation when it settles: its name, seconds taken, and whether it succeeded. */
export type BrokerObserver = (operation: string, seconds: number, ok: boolean) => void;

export class TimedBroker extends DelegatingBroker {
  observer: BrokerObserver | null = null;

  protected override async around<T>(operation: BrokerOperation, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await call();
      this.observer?.(operation, (performance.now() - started) / 1000, true);
      return result;
    } catch (error) {
      this.observer?.(operation, (performance.now() - started) / 1000, false);
      throw error;
    }
  }
}
