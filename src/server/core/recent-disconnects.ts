// The last disconnects of this node, for the admin view (GET /api/disconnects):
// a ring of fixed size, so a storm of closes costs no more memory than a calm.
import type { DisconnectRecord } from '../../protocol/stats.js';

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
