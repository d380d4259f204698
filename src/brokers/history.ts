// What every broker answers to a history query, given the channel's held
// publications: shared so that the memory and Redis brokers cannot disagree.
// Publications are held encoded (MessagePack), so that their size in bytes is
// known and bounded, and only those a query returns are decoded.
import { randomBytes } from 'node:crypto';
import { decode, encode } from '@msgpack/msgpack';
import type { HistoryPage, HistoryQuery, Publication } from './broker.js';
import type { StreamPosition } from '../protocol/frames.js';

export interface StoredPublication {
  offset: number;
  /** When it was stored (ms), for ttl eviction. */
  at: number;
  /** The publication (payload and from) as MessagePack. */
  data: Uint8Array;
}

/** A publication as stored: MessagePack of its payload and sender. */
export function encodePublication(publication: Publication): Uint8Array {
  const { offset: _offset, ...rest } = publication;
  return encode(rest, { ignoreUndefined: true });
}

export function decodePublication(entry: StoredPublication): Publication {
  const publication = decode(entry.data) as Publication;
  publication.offset = entry.offset;
  return publication;
}

/** Index of the first publication still within ttl (entries oldest first). */
export function firstUnexpired(entries: readonly StoredPublication[], now: number, ttl: number): number {
  let first = 0;
  while (first < entries.length && now - entries[first]!.at >= ttl) first++;
  return first;
}

/**
 * Answer `query` from a channel's epoch, newest offset and held publications
 * (oldest first, unexpired). With `maxBytes`, the page stops before the
 * publication that would pass it (it always holds at least one) and says
 * `truncated`.
 */
export function historyPage(epoch: string, offset: number, held: readonly StoredPublication[], query: HistoryQuery): HistoryPage {
  const limit = query.limit ?? Infinity;
  const since = query.since;
  let chosen: StoredPublication[];
  let recovered = false;
  if (!since) {
    chosen = held.slice(Math.max(0, held.length - limit));
  } else {
    const sameEpoch = since.epoch === epoch;
    const firstHeld = held.length > 0 ? held[0]!.offset : offset + 1;
    recovered = sameEpoch && since.offset >= firstHeld - 1 && since.offset <= offset;
    const after = sameEpoch ? held.filter((e) => e.offset > since.offset) : held;
    chosen = after.slice(0, limit);
  }
  let truncated = false;
  if (query.maxBytes !== undefined) {
    // Newest-first pages keep the newest; pages after `since` keep the oldest, so the next page follows on.
    const kept = fitBytes(since ? chosen : [...chosen].reverse(), query.maxBytes);
    truncated = kept.length < chosen.length;
    chosen = since ? kept : kept.reverse();
  }
  const page: HistoryPage = { epoch, offset, publications: chosen.map(decodePublication), recovered };
  if (truncated) page.truncated = true;
  return page;
}

function fitBytes(entries: StoredPublication[], maxBytes: number): StoredPublication[] {
  let bytes = 0;
  let count = 0;
  for (const entry of entries) {
    bytes += entry.data.byteLength;
    if (bytes > maxBytes && count > 0) break;
    count++;
  }
  return entries.slice(0, count);
}

/** The page of a channel that has no state: nothing held, and a position that was never handed out. */
export function emptyPage(): HistoryPage {
  return { epoch: newEpoch(), offset: 0, publications: [], recovered: false };
}

/** A new epoch: a channel gets one whenever its history starts afresh. */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * What `historyPage` answers for `{ since }`, worked out from the page it
 * answered for `{ since: read }` with `read` in the same epoch and
 * `read.offset <= since.offset` (neither query with a limit or maxBytes): the
 * held publications after `since` are those of the wider page after it, and
 * `since` is recoverable when the first of them directly follows it (or it
 * is the newest offset). So one read serves many resubscribes of a channel.
 * Expiry by ttl cuts the oldest held publications, so the wider page has the
 * same cut, as long as the publishing nodes' clocks agree (each entry's `at`
 * is its publisher's time); where they do not, the narrowed page may keep an
 * entry that a read of its own would have dropped, never the other way.
 */
export function narrowSince(page: HistoryPage, read: StreamPosition, since: StreamPosition): HistoryPage {
  if (since.epoch !== read.epoch || since.offset < read.offset) throw new Error('narrowSince: the read does not cover this position');
  // An epoch that is not the channel's: every held publication, not recovered, as for the read itself.
  if (page.epoch !== since.epoch) return { epoch: page.epoch, offset: page.offset, publications: page.publications, recovered: false };
  const publications = page.publications.filter((p) => p.offset! > since.offset);
  const first = publications[0]?.offset;
  const recovered = since.offset <= page.offset && (first === undefined ? since.offset === page.offset : first === since.offset + 1);
  return { epoch: page.epoch, offset: page.offset, publications, recovered };
}

/** What `historyPage` answers for `{ limit }`, from the page it answered for `{ limit: read }` with `read >= limit`. */
export function narrowNewest(page: HistoryPage, read: number, limit: number): HistoryPage {
  if (limit > read) throw new Error('narrowNewest: the read does not cover this limit');
  const publications = limit === 0 ? [] : page.publications.slice(Math.max(0, page.publications.length - limit));
  return { epoch: page.epoch, offset: page.offset, publications, recovered: false };
}
