// One webhook endpoint's delivery: the node holding the queue's lease sends
// its oldest event, signed, and takes it off only once answered 2xx; a failure
// is retried with backoff and the same webhook-id until `retryFor` after the
// event. One event at a time per endpoint, so a user's events arrive in order.
// A receiver that is down, slow, or answers 500 or garbage costs retries, never
// the process; when the holder dies, its lease lapses and another node goes on.
import type { Logger } from 'pino';
import type { EventLedger, QueuedEvent } from '../../brokers/broker.js';
import { loggable } from '../logger.js';
import { signHeaders } from '../signing.js';
import type { Tally } from '../tally.js';
import { webhookBody } from './events.js';

export interface Endpoint {
  url: string;
  secret: string;
  /** Its queue's name in the ledger. */
  queue: string;
}

export interface DeliveryOptions {
  /** ms an attempt may take. */
  timeout: number;
  /** ms after an event it is given up on (dropped, counted). */
  retryFor: number;
  /** ms the delivery lease lasts without renewal: how soon another node goes on after this one dies. */
  leaseMs: number;
  /** ms between looks at an empty (or another node's) queue. */
  poll: number;
}

/** Outcomes, by event type (sent, retried) or reason (dropped: bound, expired). */
export interface DeliveryStats {
  sent: Tally;
  retried: Tally;
  dropped: Tally;
}

/** First retry after this; doubled each time up to MAX_BACKOFF. */
const FIRST_BACKOFF = 500;
const MAX_BACKOFF = 60_000;

export class Deliverer {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private inFlight: AbortController | null = null;
  /** The head being retried and how many attempts it has had. */
  private headId = '';
  private attempts = 0;

  constructor(
    private readonly ledger: EventLedger,
    private readonly endpoint: Endpoint,
    /** Who holds the lease: unique per running node. */
    private readonly node: string,
    private readonly options: DeliveryOptions,
    private readonly stats: DeliveryStats,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.wake(0);
  }

  /** Something was queued here: look now rather than at the next poll. */
  kick(): void {
    if (!this.running && this.headId === '') this.wake(0);
  }

  /** Stop, and hand the queue on at once: the lease, renewed for 1 ms, lapses, so another node need not wait it out. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.inFlight?.abort();
    await this.ledger.claimHead(this.endpoint.queue, this.node, 1).catch(() => {});
  }

  private wake(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.loop(), ms);
    this.timer.unref();
  }

  private async loop(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let wait: number;
    try {
      wait = await this.step();
    } catch (error) {
      this.logger.warn({ err: loggable(error), webhook: this.endpoint.url }, 'webhook queue unavailable');
      wait = this.options.poll * 4;
    } finally {
      this.running = false;
    }
    this.wake(wait);
  }

  /** One look at the queue: answers how long to wait before the next. */
  private async step(): Promise<number> {
    const { queue } = this.endpoint;
    const head = await this.ledger.claimHead(queue, this.node, this.options.leaseMs);
    if (!head) {
      this.headId = '';
      return this.options.poll;
    }
    if (head.id !== this.headId) {
      this.headId = head.id;
      this.attempts = 0;
    }
    if (Date.now() - head.at > this.options.retryFor) {
      await this.ledger.ack(queue, head.id);
      this.stats.dropped.inc(['expired']);
      this.logger.warn({ webhook: this.endpoint.url, id: head.id, type: head.type }, 'webhook given up after webhookRetryFor');
      return 0;
    }
    if (this.attempts > 0) this.stats.retried.inc([head.type]);
    this.attempts++;
    if (await this.send(head)) {
      await this.ledger.ack(queue, head.id);
      this.stats.sent.inc([head.type]);
      return 0;
    }
    return Math.min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (this.attempts - 1));
  }

  /** One attempt: true when answered 2xx. */
  private async send(event: QueuedEvent): Promise<boolean> {
    const body = webhookBody(event);
    const abort = (this.inFlight = new AbortController());
    const timer = setTimeout(() => abort.abort(), this.options.timeout);
    try {
      const response = await fetch(this.endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signHeaders(this.endpoint.secret, event.id, body) },
        body,
        redirect: 'manual',
        signal: abort.signal,
      });
      // The answer's body means nothing here: not read, so a huge or endless one costs nothing.
      await response.body?.cancel().catch(() => {});
      if (response.status >= 200 && response.status < 300) return true;
      this.logger.warn({ webhook: this.endpoint.url, id: event.id, status: response.status }, 'webhook answered non-2xx; will retry');
    } catch (error) {
      if (!this.stopped) this.logger.warn({ err: loggable(error), webhook: this.endpoint.url, id: event.id }, 'webhook call failed; will retry');
    } finally {
      clearTimeout(timer);
      this.inFlight = null;
    }
    return false;
  }
}
