// Tells the operator when the broker goes away and when it is back, with how
// long it was gone: checked a few times a second, logged once per change.
import type { Logger } from 'pino';
import type { Broker } from '../../brokers/broker.js';

export class BrokerWatch {
  private timer: NodeJS.Timeout | null = null;
  private downSince: number | null = null;
  /** Times the broker went down, for /metrics. */
  outages = 0;

  constructor(
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly interval = 250,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.check(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  check(): void {
    const healthy = this.broker.isHealthy();
    if (!healthy && this.downSince === null) {
      this.downSince = Date.now();
      this.outages++;
      this.logger.error({ broker: this.broker.name }, 'broker down');
    } else if (healthy && this.downSince !== null) {
      const downMs = Date.now() - this.downSince;
      this.downSince = null;
      this.logger.warn({ broker: this.broker.name, downMs }, 'broker back');
    }
  }
}
