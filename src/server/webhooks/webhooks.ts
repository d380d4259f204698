// The server's side of docs/protocol.md section 11, and the per-user
// connection limit: told of connections and subscriptions by the core (a
// Lifecycle), it counts users and channels in the broker's cluster-wide
// tallies, queues the events each endpoint wants, and runs one Deliverer per
// endpoint. Whether an event is a transition is decided by the broker's
// ledger in one atomic step, so every node can report what it sees.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Broker, EventRoutes, TallyAnswer, TallyMember } from '../../brokers/broker.js';
import { SwitchboardError } from '../../protocol/codes.js';
import type { PresenceEntry } from '../../protocol/frames.js';
import type { Config } from '../config.js';
import type { ClientContext, Lifecycle } from '../core/index.js';
import { loggable } from '../logger.js';
import { Tally } from '../tally.js';
import { Deliverer, type DeliveryStats } from './deliverer.js';
import { WEBHOOK_EVENTS, type WebhookEventType } from './events.js';

/** ms between settling emptied tallies (an offline is sent within this after its delay) and between looks at a queue. */
const TICK = 200;

export class Webhooks implements Lifecycle {
  readonly stats: DeliveryStats = { sent: new Tally(), retried: new Tally(), dropped: new Tally() };
  /** Connections refused by limits.connectionsPerUser. */
  refused = 0;
  private readonly routes: EventRoutes;
  private readonly deliverers: Deliverer[];
  private readonly wanted: Set<string>;
  private readonly countUsers: boolean;
  private readonly countChannels: boolean;
  /** Connections told to `connected` and not refused: only they have a `client.disconnected`. */
  private readonly admitted = new Set<string>();
  /** Each client's calls in order, so its events are queued in the order they happened. */
  private readonly chains = new Map<string, Promise<void>>();
  private ticker: NodeJS.Timeout | null = null;

  /** Needed when an endpoint is configured or users' connections are limited. */
  static needed(config: Config): boolean {
    return config.webhooks.length > 0 || config.limits.connectionsPerUser > 0;
  }

  constructor(
    private readonly broker: Broker,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    const queues: Record<string, string[]> = Object.fromEntries(WEBHOOK_EVENTS.map((type) => [type, []]));
    const node = randomUUID();
    const options = { timeout: config.webhookTimeout, retryFor: config.webhookRetryFor, leaseMs: config.nodeTtl + config.webhookTimeout, poll: TICK };
    this.deliverers = config.webhooks.map(({ url, secret, events }) => {
      const queue = createHash('sha256').update(url).digest('hex').slice(0, 16);
      for (const type of events) queues[type]!.push(queue);
      return new Deliverer(broker.ledger, { url, secret, queue }, node, options, this.stats, logger);
    });
    this.routes = { queues, bound: config.limits.webhookQueue };
    this.wanted = new Set(config.webhooks.flatMap((endpoint) => endpoint.events));
    this.countUsers = this.wants('user.online', 'user.offline') || config.limits.connectionsPerUser > 0;
    this.countChannels = this.wants('channel.occupied', 'channel.vacated');
  }

  start(): void {
    for (const deliverer of this.deliverers) deliverer.start();
    this.ticker = setInterval(() => void this.tick(), TICK);
    this.ticker.unref();
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await Promise.all(this.deliverers.map((deliverer) => deliverer.stop()));
  }

  connected(client: ClientContext): Promise<void> {
    return this.serial(client.client, async () => {
      if (client.user !== null && this.countUsers) {
        const limit = this.config.limits.connectionsPerUser;
        const answer = await this.countIn({ scope: 'user', key: client.user, member: client.client }, limit);
        if (answer === -1) {
          this.refused++;
          throw new SwitchboardError('rate_limited', `user has ${limit} connections, the most limits.connectionsPerUser allows`);
        }
      }
      this.admitted.add(client.client);
      await this.emit('client.connected', { client: client.client, user: client.user });
    });
  }

  disconnected(client: ClientContext, code: number, reason: string): Promise<void> {
    return this.serial(client.client, async () => {
      if (!this.admitted.delete(client.client)) return;
      await this.emit('client.disconnected', { client: client.client, user: client.user, code, reason });
      if (client.user !== null && this.countUsers) {
        await this.countOut({ scope: 'user', key: client.user, member: client.client }, this.config.webhookOfflineDelay);
      }
    });
  }

  subscribed(client: ClientContext, channel: string, info: unknown, presence: boolean): Promise<void> {
    return this.serial(client.client, async () => {
      if (this.countChannels) await this.countIn({ scope: 'channel', key: channel, member: client.client });
      if (presence) await this.emit('presence.join', { channel, client: client.client, user: client.user, info });
    });
  }

  unsubscribed(client: ClientContext, channel: string, info: unknown, presence: boolean): Promise<void> {
    return this.serial(client.client, async () => {
      if (presence) await this.emit('presence.leave', { channel, client: client.client, user: client.user, info });
      if (this.countChannels) await this.countOut({ scope: 'channel', key: channel, member: client.client }, 0);
    });
  }

  async orphaned(channel: string, entries: PresenceEntry[]): Promise<void> {
    for (const entry of entries) await this.emit('presence.leave', { channel, client: entry.client, user: entry.user, info: entry.info });
  }

  private wants(...types: WebhookEventType[]): boolean {
    return types.some((type) => this.wanted.has(type));
  }

  /**
   * Count a member in or out. A broker that cannot answer loses the change
   * (logged): the connection is not refused for it, and the limit does not
   * hold while the broker is away. Answers the key's count (-1: over the limit).
   */
  private async tally(change: () => Promise<TallyAnswer>, scope: TallyMember['scope']): Promise<number> {
    try {
      const answer = await change();
      this.delivered(answer.dropped);
      return answer.count;
    } catch (error) {
      this.logger.warn({ err: loggable(error), scope }, 'webhook tally failed');
      return 0;
    }
  }

  private countIn(member: TallyMember, limit = 0): Promise<number> {
    return this.tally(() => this.broker.ledger.tallyAdd(member, this.routes, limit), member.scope);
  }

  private countOut(member: TallyMember, graceMs: number): Promise<number> {
    return this.tally(() => this.broker.ledger.tallyRemove(member, graceMs, this.routes), member.scope);
  }

  private async emit(type: WebhookEventType, data: Record<string, unknown>): Promise<void> {
    if (!this.wanted.has(type)) return;
    try {
      this.delivered(await this.broker.ledger.enqueue([{ id: `msg_${randomUUID()}`, type, at: Date.now(), data }], this.routes));
    } catch (error) {
      this.logger.warn({ err: loggable(error), type }, 'webhook event lost: the broker could not queue it');
    }
  }

  /** Events were queued (some perhaps dropped by the bound): count those, and look at the queues now. */
  private delivered(dropped: number): void {
    if (dropped > 0) this.stats.dropped.inc(['bound'], dropped);
    for (const deliverer of this.deliverers) deliverer.kick();
  }

  /** Events waiting in this cluster's queues, all endpoints together (read when /metrics is scraped). */
  queued(): Promise<number> {
    return this.broker.ledger.queued([...new Set(Object.values(this.routes.queues).flat())]);
  }

  private async tick(): Promise<void> {
    if (!this.countUsers && !this.countChannels) return;
    try {
      this.delivered(await this.broker.ledger.settleTallies(this.routes));
    } catch {
      // The broker is away: its health and logs say so; the next tick settles what is due.
    }
  }

  private serial(client: string, task: () => Promise<void>): Promise<void> {
    const next = (this.chains.get(client) ?? Promise.resolve()).then(task);
    const tail = next.catch(() => {});
    this.chains.set(client, tail);
    void tail.then(() => {
      if (this.chains.get(client) === tail) this.chains.delete(client);
    });
    return next;
  }
}
