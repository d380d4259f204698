// The idempotency keys a single node remembers (memory broker): which key was
// published on which channel, with what offset, until its window ends. Bounded
// per channel by count and per node by bytes; past a bound the oldest key is
// forgotten early (a retry of it would then be stored again), and the hit is
// counted so an operator sees it in /metrics.

interface Remembered {
  offset: number | null;
  expiresAt: number;
  bytes: number;
  gone?: boolean;
}

interface Held {
  channel: string;
  key: string;
  entry: Remembered;
}

export interface IdempotencyLimits {
  /** Keys remembered per channel. */
  perChannel: number;
  /** Bytes of keys remembered on this node (estimated: key, channel and bookkeeping). */
  bytes: number;
}

/** Per-key bookkeeping beyond the strings themselves (map slots, the entry object). */
const OVERHEAD = 96;

export class IdempotencyKeys {
  private readonly byChannel = new Map<string, Map<string, Remembered>>();
  /** Every remembered key in the order stored: windows end roughly in this order. */
  private order: Held[] = [];
  private head = 0;
  private totalBytes = 0;

  constructor(
    private readonly limits: IdempotencyLimits,
    private readonly hit: (limit: string) => void,
  ) {}

  /** The offset the key was first published with (null without history), or undefined when not seen within its window. */
  seen(channel: string, key: string, now: number): number | null | undefined {
    const entry = this.byChannel.get(channel)?.get(key);
    if (!entry || entry.expiresAt <= now) return undefined;
    return entry.offset;
  }

  remember(channel: string, key: string, offset: number | null, window: number, now: number): void {
    this.expire(now);
    let keys = this.byChannel.get(channel);
    if (!keys) this.byChannel.set(channel, (keys = new Map<string, Remembered>()));
    const old = keys.get(key);
    if (old) this.remove(channel, key, old);
    if (keys.size >= this.limits.perChannel) {
      const [oldestKey, oldest] = keys.entries().next().value!;
      this.remove(channel, oldestKey, oldest);
      this.hit('idempotencyKeysPerChannel');
    }
    const entry: Remembered = { offset, expiresAt: now + window, bytes: OVERHEAD + 2 * (key.length + channel.length) };
    keys.set(key, entry);
    this.byChannel.set(channel, keys);
    this.order.push({ channel, key, entry });
    this.totalBytes += entry.bytes;
    while (this.totalBytes > this.limits.bytes && this.head < this.order.length) {
      const held = this.order[this.head++]!;
      if (held.entry.gone) continue;
      this.remove(held.channel, held.key, held.entry);
      this.hit('idempotencyBytes');
    }
    this.compact();
  }

  /** Keys remembered now (expired ones not yet swept included). */
  get size(): number {
    let count = 0;
    for (const keys of this.byChannel.values()) count += keys.size;
    return count;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  /** Forget keys whose window ended, oldest first; stops at the first one still within it. */
  expire(now: number): void {
    while (this.head < this.order.length) {
      const held = this.order[this.head]!;
      if (!held.entry.gone && held.entry.expiresAt > now) break;
      this.head++;
      if (!held.entry.gone) this.remove(held.channel, held.key, held.entry);
    }
    this.compact();
  }

  private remove(channel: string, key: string, entry: Remembered): void {
    entry.gone = true;
    this.totalBytes -= entry.bytes;
    const keys = this.byChannel.get(channel);
    if (keys?.get(key) === entry) {
      keys.delete(key);
      if (keys.size === 0) this.byChannel.delete(channel);
    }
  }

  /** Passed entries stay in `order` until compacted, when they dominate it. */
  private compact(): void {
    if (this.head > 1024 && this.head > this.order.length / 2) {
      this.order = this.order.slice(this.head).filter((held) => !held.entry.gone);
      this.head = 0;
    }
  }
}
