// The last disconnects of this node, for the admin view (GET /api/disconnects):
// a ring of fixed size, so a storm of closes costs no more memory than a calm.

export interface DisconnectRecord {
  /** ISO 8601. */
  at: string;
  node: string;
  client: string;
  user: string | null;
  code: number;
  reason: string;
  /** 'server' when this server gave the code, else 'client' (the peer or the network). */
  by: 'server' | 'client';
}

export class RecentDisconnects {
  private readonly ring: DisconnectRecord[] = [];
  private next = 0;

  constructor(readonly capacity = 100) {}

  add(record: DisconnectRecord): void {
    if (this.ring.length < this.capacity) this.ring.push(record);
    else this.ring[this.next] = record;
    this.next = (this.next + 1) % this.capacity;
  }

  /** Newest first, at most `limit`. */
  newest(limit = this.capacity): DisconnectRecord[] {
    const out: DisconnectRecord[] = [];
    for (let i = 1; i <= Math.min(limit, this.ring.length); i++) {
      out.push(this.ring[(this.next - i + this.capacity) % this.capacity]!);
    }
    return out;
  }
}
