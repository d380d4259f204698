// What every broker answers to a history query, given the channel's held
// publications: shared so that the memory and Redis brokers cannot disagree.
import { randomBytes } from 'node:crypto';
import type { HistoryPage, HistoryQuery, Publication } from './broker.js';

export interface StoredPublication extends Publication {
  offset: number;
  /** When it was stored (ms), for ttl eviction. */
  at: number;
}

/** The publications still within ttl, oldest first. */
export function unexpired(entries: StoredPublication[], now: number, ttl: number): StoredPublication[] {
  let first = 0;
  while (first < entries.length && now - entries[first]!.at >= ttl) first++;
  return first === 0 ? entries : entries.slice(first);
}

/** Answer `query` from a channel's epoch, newest offset and held publications (oldest first, unexpired). */
export function historyPage(epoch: string, offset: number, held: StoredPublication[], query: HistoryQuery): HistoryPage {
  const limit = query.limit ?? Infinity;
  const since = query.since;
  if (!since) {
    const newest = held.slice(Math.max(0, held.length - limit));
    return { epoch, offset, publications: newest.map(strip), recovered: false };
  }
  const sameEpoch = since.epoch === epoch;
  const firstHeld = held.length > 0 ? held[0]!.offset : offset + 1;
  const recovered = sameEpoch && since.offset >= firstHeld - 1 && since.offset <= offset;
  const after = sameEpoch ? held.filter((e) => e.offset > since.offset) : held;
  return { epoch, offset, publications: after.slice(0, limit).map(strip), recovered };
}

function strip(entry: StoredPublication): Publication {
  const { at: _at, ...publication } = entry;
  return publication;
}

/** A new epoch: a channel gets one whenever its history starts afresh. */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}
