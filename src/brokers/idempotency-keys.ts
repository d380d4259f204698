// The idempotency keys a single node remembers (memory broker): which key was
// published on which channel, with what offset, until its window ends. Bounded
// per channel by count and per node by bytes; past a bound the oldest key is
// forgotten early (a retry of it would then be stored again), and the hit is
// counted so an operator sees it in /metrics.
//
// The bytes are what the heap really holds (issue 19: at the 64 MiB default
// the heap held 168-258 MiB, 2.6-4x): V8's size of the key string, an
// overhead per key and per channel measured by bench/idempotency-memory.mjs,
// and keys forgotten early stay counted while the queue still holds them.
// Keys that left the queue are no longer held by it (their slot is emptied).

/**
 * Per key beyond its string: the entry, its slots in the channel's Map and in
 * the queue, the boxed expiry. Measured (docs/benchmarks.md, "Idempotency
 * keys"): 119 bytes just stored, up to 175 at the bound (Maps rehashing, the
 * queue awaiting compaction); with 150 the heap stays within 0.82-1.23x of
 * the bound.
 */
export const KEY_OVERHEAD = 150;
/** Per channel beyond its name: its record, its Map, its slot in the channels' Map. Measured: 240 bytes (one key per channel). */
export const CHANNEL_OVERHEAD = 240;

/**
 * V8's size of a flat string (64-bit, no pointer compression): a 16-byte
 * header, then 1 byte per character, or 2 once one is past Latin-1, padded
 * to 8. (JSON.parse shares strings of up to 10 characters; counted anyway.)
 */
export function stringBytes(text: string): number {
  const width = /[^\u0000-\u00ff]/.test(text) ? 2 : 1;
  return 16 + Math.ceil((text.length * width) / 8) * 8;
}

/** A remembered key: one object, held by its channel's Map and by the queue. */
class Entry {
  gone = false;
  constructor(
    readonly channel: Channel,
    readonly key: string,
    readonly offset: number | null,
    readonly expiresAt: number,
    readonly bytes: number,
  ) {}
}

/** A channel's keys; kept while any of its entries is queued, gone or not. */
class Channel {
  readonly keys = new Map<string, Entry>();
  queued = 0;
  constructor(
    readonly name: string,
    readonly bytes: number,
  ) {}
}

export interface IdempotencyLimits {
  /** Keys remembered per channel. */
  perChannel: number;
  /** Bytes of heap the remembered keys hold on this node, all channels together. */
  bytes: number;
}

export class IdempotencyKeys {
  private readonly channels = new Map<string, Channel>();
  /** Every key in the order stored (windows end roughly in this order); slots before `head` are emptied. */
  private queue: Array<Entry | undefined> = [];
  private head = 0;
  /** Queued entries forgotten early (replaced, or past the per-channel bound). */
  private goneQueued = 0;
  private totalBytes = 0;

  constructor(
    private readonly limits: IdempotencyLimits,
    private readonly hit: (limit: string) => void,
  ) {}

  /** The offset the key was first published with (null without history), or undefined when not seen within its window. */
  seen(channel: string, key: string, now: number): number | null | undefined {
    const entry = this.channels.get(channel)?.keys.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return entry.offset;
  }

  remember(channel: string, key: string, offset: number | null, window: number, now: number): void {
    this.expire(now);
    let held = this.channels.get(channel);
    if (!held) {
      held = new Channel(channel, CHANNEL_OVERHEAD + stringBytes(channel));
      this.channels.set(channel, held);
      this.totalBytes += held.bytes;
    }
    const old = held.keys.get(key);
    if (old) this.forget(old);
    if (held.keys.size >= this.limits.perChannel) {
      this.forget(held.keys.values().next().value!);
      this.hit('idempotencyKeysPerChannel');
    }
    const entry = new Entry(held, key, offset, now + window, KEY_OVERHEAD + stringBytes(key));
    held.keys.set(key, entry);
    held.queued++;
    this.queue.push(entry);
    this.totalBytes += entry.bytes;
    while (this.totalBytes > this.limits.bytes && this.head < this.queue.length) {
      if (this.dequeue()) this.hit('idempotencyBytes');
    }
    this.compact();
  }

  /** Keys remembered now (expired ones not yet swept included). */
  get size(): number {
    let count = 0;
    for (const held of this.channels.values()) count += held.keys.size;
    return count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Forget keys whose window ended, oldest first; stops at the first one still within it. */
  expire(now: number): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (!entry.gone && entry.expiresAt > now) break;
      this.dequeue();
    }
    this.compact();
  }

  /** Out of its channel's Map; still queued (and counted) until the queue lets it go. */
  private forget(entry: Entry): void {
    entry.gone = true;
    this.goneQueued++;
    entry.channel.keys.delete(entry.key);
  }

  /** Take the oldest entry off the queue, forgetting it if it was not yet (then true). */
  private dequeue(): boolean {
    const entry = this.queue[this.head]!;
    this.queue[this.head++] = undefined;
    const live = !entry.gone;
    if (live) this.forget(entry);
    this.release(entry);
    return live;
  }

  /** A gone entry leaves the queue: its bytes, and its channel's once the channel has no entry queued. */
  private release(entry: Entry): void {
    this.goneQueued--;
    this.totalBytes -= entry.bytes;
    const held = entry.channel;
    if (--held.queued > 0) return;
    this.totalBytes -= held.bytes;
    if (this.channels.get(held.name) === held) this.channels.delete(held.name);
  }

  /** Drop the emptied head of the queue, and entries gone early, once they are most of it. */
  private compact(): void {
    const queued = this.queue.length - this.head;
    if (this.head > 1024 && this.head > queued) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.goneQueued > 1024 && this.goneQueued > queued / 2) {
      const kept: Entry[] = [];
      for (let i = this.head; i < this.queue.length; i++) {
        const entry = this.queue[i]!;
        if (entry.gone) this.release(entry);
        else kept.push(entry);
      }
      this.queue = kept;
      this.head = 0;
    }
  }
}
