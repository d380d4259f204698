// What a delta subscription keeps to apply the next delta (docs/client.md,
// "Delta compression"): the last payload, and its bytes as the codec writes
// them once a delta needs them. The Fossil code itself is opt-in
// (`switchboard/client/delta`), so clients that never ask for deltas do not carry it.
import type { Codec } from '../protocol/codec.js';
import type { MessageFrame } from '../protocol/frames.js';

/** Applies one delta format; `fossil` from `switchboard/client/delta`. */
export interface DeltaDecoder {
  readonly name: 'fossil';
  apply(base: Uint8Array, delta: Uint8Array): Uint8Array;
}

export class DeltaBase {
  private payload: unknown;
  private bytes: Uint8Array | null = null;

  constructor(
    private readonly codec: Codec,
    private readonly decoder: DeltaDecoder,
  ) {}

  /** The whole payload of `frame` (applying its delta); throws when the delta does not apply. */
  read(frame: MessageFrame): unknown {
    if (!frame.delta) {
      this.payload = frame.payload;
      this.bytes = null;
      return frame.payload;
    }
    const base = (this.bytes ??= toBytes(this.codec.encode(this.payload)));
    const delta = frame.payload;
    // On JSON each character of the string is one byte of the delta (U+0000 to U+00FF).
    const deltaBytes = typeof delta === 'string' ? Uint8Array.from(delta, (c) => c.charCodeAt(0)) : (delta as Uint8Array);
    const bytes = this.decoder.apply(base, deltaBytes);
    this.payload = this.codec.decode(this.codec.binary ? bytes : new TextDecoder().decode(bytes));
    this.bytes = bytes;
    return this.payload;
  }
}

function toBytes(encoded: string | Uint8Array): Uint8Array {
  return typeof encoded === 'string' ? new TextEncoder().encode(encoded) : encoded;
}
