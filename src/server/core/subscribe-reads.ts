// The history reads of subscribes, coalesced per channel. After a restart
// thousands of clients resubscribe at once, each with the position it last
// saw (or a rewind); one broker read per subscribe would be one Redis round
// trip each. Here the reads of a channel asked for in the same turn of the
// event loop, or while a read of it is in flight, wait for one read that
// covers them all (from the oldest `since`, one per epoch asked from; the
// largest rewind), and
// each gets the page the broker would have answered it alone (narrowSince,
// narrowNewest). Done above the broker interface so that every broker gets it.
//
// Recovery stays exact: a subscribe asks only once its subscription is
// registered (live publications buffered) and the broker subscription is in
// place, and its read is always sent after it asked, never one already in
// flight. What the read misses arrives live afterwards, into the buffer, as
// for a read of its own.
import type { Broker, HistoryPage, HistoryPolicy } from '../../brokers/broker.js';
import { narrowNewest, narrowSince } from '../../brokers/history.js';
import type { StreamPosition } from '../../protocol/frames.js';
import { Tally } from '../tally.js';

/** What a subscribe reads: what was missed after `since`, or the newest `limit` (0: only the position). */
export type SubscribeQuery = { since: StreamPosition } | { limit: number };

interface Waiting {
  query: SubscribeQuery;
  resolve: (page: HistoryPage) => void;
  reject: (error: unknown) => void;
}

interface ChannelReads {
  policy: HistoryPolicy;
  /** Asked since the last read was sent: served by the next one. */
  waiting: Waiting[];
  /** A read is scheduled for the end of this turn, or is in flight. */
  busy: boolean;
}

export class SubscribeReads {
  private readonly channels = new Map<string, ChannelReads>();

  constructor(
    private readonly broker: Broker,
    /** By kind: `asked`, subscribes that wanted a page; `sent`, reads sent to the broker for them. */
    readonly counts = new Tally(),
  ) {}

  read(channel: string, query: SubscribeQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    this.counts.inc(['asked']);
    let reads = this.channels.get(channel);
    // A namespace's policy changed under a waiting read (a reload): read apart.
    if (reads && reads.policy !== policy) return this.send(channel, query, policy);
    if (!reads) this.channels.set(channel, (reads = { policy, waiting: [], busy: false }));
    const answer = new Promise<HistoryPage>((resolve, reject) => reads.waiting.push({ query, resolve, reject }));
    if (!reads.busy) this.schedule(channel, reads);
    return answer;
  }

  /** Read at the end of this turn, so that the subscribes of the same turn share it. */
  private schedule(channel: string, reads: ChannelReads): void {
    reads.busy = true;
    setImmediate(() => void this.flush(channel, reads));
  }

  private async flush(channel: string, reads: ChannelReads): Promise<void> {
    const batch = reads.waiting;
    reads.waiting = [];
    try {
      await Promise.all(this.plan(batch).map((group) => this.serve(channel, reads.policy, group)));
    } finally {
      if (reads.waiting.length > 0) this.schedule(channel, reads);
      else this.channels.delete(channel);
    }
  }

  /**
   * The reads that answer a batch: one per epoch named by a `since` (from the
   * oldest offset), and one for the largest rewind, which a `since` read
   * answers too when every rewind is 0 (only the position is wanted).
   */
  private plan(batch: Waiting[]): Array<{ query: SubscribeQuery; waiting: Waiting[] }> {
    const byEpoch = new Map<string, { query: { since: StreamPosition }; waiting: Waiting[] }>();
    let newest: { query: { limit: number }; waiting: Waiting[] } | null = null;
    for (const waiting of batch) {
      const { query } = waiting;
      if ('since' in query) {
        const group = byEpoch.get(query.since.epoch);
        if (!group) byEpoch.set(query.since.epoch, { query: { since: query.since }, waiting: [waiting] });
        else {
          group.waiting.push(waiting);
          if (query.since.offset < group.query.since.offset) group.query = { since: query.since };
        }
      } else if (!newest) newest = { query: { limit: query.limit }, waiting: [waiting] };
      else {
        newest.waiting.push(waiting);
        newest.query = { limit: Math.max(newest.query.limit, query.limit) };
      }
    }
    const groups: Array<{ query: SubscribeQuery; waiting: Waiting[] }> = [...byEpoch.values()];
    if (newest && newest.query.limit === 0 && groups.length > 0) groups[0]!.waiting.push(...newest.waiting);
    else if (newest) groups.push(newest);
    return groups;
  }

  private async serve(channel: string, policy: HistoryPolicy, group: { query: SubscribeQuery; waiting: Waiting[] }): Promise<void> {
    let page: HistoryPage;
    try {
      page = await this.send(channel, group.query, policy);
    } catch (error) {
      for (const waiting of group.waiting) waiting.reject(error);
      return;
    }
    for (const { query, resolve, reject } of group.waiting) {
      try {
        resolve(narrow(page, group.query, query));
      } catch (error) {
        reject(error);
      }
    }
  }

  private send(channel: string, query: SubscribeQuery, policy: HistoryPolicy): Promise<HistoryPage> {
    this.counts.inc(['sent']);
    return this.broker.history(channel, query, policy);
  }
}

/** The page `wanted` would have had, from the page of `read`, which covers it. */
function narrow(page: HistoryPage, read: SubscribeQuery, wanted: SubscribeQuery): HistoryPage {
  if ('since' in wanted) return narrowSince(page, (read as { since: StreamPosition }).since, wanted.since);
  // Only the position is wanted: any read of the channel has it.
  if ('since' in read) return { epoch: page.epoch, offset: page.offset, publications: [], recovered: false };
  return narrowNewest(page, read.limit, wanted.limit);
}
