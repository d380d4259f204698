// A Transport with no socket behind it, for driving the core directly: it
// records what is sent and never drains, like a client that stopped reading.
import type { SharedFrame, Transport } from '../../src/server/core/index.js';

export class FakeTransport implements Transport {
  readonly sent: Array<string | Uint8Array> = [];
  bufferedAmount = 0;
  /** Most bytes ever queued at once. */
  peak = 0;
  closedWith: { code: number; reason: string } | null = null;
  terminated = false;
  paused = false;

  send(data: string | Uint8Array): void {
    this.sent.push(data);
    this.bufferedAmount += typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    this.peak = Math.max(this.peak, this.bufferedAmount);
  }
  sendShared(frame: SharedFrame): void {
    this.send(frame.data);
  }
  /** Never called: this socket never drains. */
  onDrain(_listener: () => void): void {}
  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
  }
  terminate(): void {
    this.terminated = true;
  }
  ping(): void {}
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  /** The frames sent, decoded from JSON. */
  frames(): Array<Record<string, any>> {
    return this.sent.map((data) => JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString()));
  }
}
