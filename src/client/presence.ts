// A subscription's live presence set (docs/client.md, "Live presence"): a
// `presence` snapshot taken after every (re)subscribe, kept by join, leave and
// update frames. Frames that arrive while a snapshot is on its way are
// replayed over it in order, so the set ends as the newest of both.
import type { PresenceEntry, PresenceResult } from '../protocol/frames.js';

export type PresenceKind = 'join' | 'leave' | 'update';

export class PresenceTracker {
  /** Present clients, by client id. */
  readonly clients = new Map<string, PresenceEntry>();
  /** Frames received since the snapshot in flight was asked for; null when none is. */
  private pending: Array<[PresenceKind, PresenceEntry]> | null = null;
  /** Which snapshot is the newest asked for: an older answer is dropped. */
  private generation = 0;

  constructor(
    private readonly fetch: () => Promise<PresenceResult>,
    /** Called once a snapshot has been applied. */
    private readonly synced: () => void,
  ) {}

  /** Apply a join, leave or update frame. */
  apply(kind: PresenceKind, entry: PresenceEntry): void {
    this.pending?.push([kind, entry]);
    if (kind === 'leave') this.clients.delete(entry.client);
    else this.clients.set(entry.client, entry);
  }

  /** Ask for a fresh snapshot; a failed one (connection lost, no presence here) is left to the next resubscribe. */
  sync(): void {
    const generation = ++this.generation;
    this.pending = [];
    this.fetch().then(
      (result) => {
        if (generation !== this.generation || !this.pending) return;
        const replay = this.pending;
        this.pending = null;
        this.clients.clear();
        for (const entry of result.clients) this.clients.set(entry.client, entry);
        for (const [kind, entry] of replay) this.apply(kind, entry);
        this.synced();
      },
      () => {
        if (generation === this.generation) this.pending = null;
      },
    );
  }
}
