// Fossil deltas per channel (docs/protocol.md, "Delta compression"): each
// publication's delta from the previous one this node fanned out on the
// channel, computed at most once per codec for every subscriber that asked and
// received that previous one. Anyone else gets the full payload.
import { createDelta } from 'fossil-delta';
import type { Publication } from '../../brokers/broker.js';
import type { Codec } from '../../protocol/codec.js';
import type { MessageFrame } from '../../protocol/frames.js';
import type { SharedFrame } from './transport.js';

/** A payload as a codec writes it: the JSON text's UTF-8 bytes, or the MessagePack bytes. */
export function payloadBytes(codec: Codec, payload: unknown): Uint8Array {
  const encoded = codec.encode(payload);
  return typeof encoded === 'string' ? Buffer.from(encoded) : encoded;
}

/**
 * A delta as it travels: binary on a binary codec; on JSON a string with one
 * character (U+0000 to U+00FF) per byte, so a delta of ASCII text is that text.
 */
export function deltaPayload(codec: Codec, delta: Uint8Array): string | Uint8Array {
  return codec.binary ? delta : Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength).toString('latin1');
}

/** One channel's last publication fanned out here, and its encodings as computed. */
export class ChannelDelta {
  /** Local subscriptions on the channel that asked for deltas. */
  subscribers = 0;
  private previous: Publication | null = null;
  /** `previous`'s payload bytes by codec, filled as deltas need them. */
  private previousBytes: Array<{ codec: Codec; bytes: Uint8Array }> = [];

  /** The round for `publication`, which becomes the previous one once fanned out (advance). */
  round(message: MessageFrame, publication: Publication, full: (codec: Codec) => SharedFrame): DeltaRound {
    return new DeltaRound(message, publication, this.previous, this.previousBytes, full);
  }

  advance(round: DeltaRound): void {
    this.previous = round.publication;
    this.previousBytes = round.targetBytes;
  }
}

/** The delta frames of one publication, encoded once per codec. */
export class DeltaRound {
  /** This publication's payload bytes by codec, kept as the next round's source. */
  readonly targetBytes: Array<{ codec: Codec; bytes: Uint8Array }> = [];
  /** Per codec, the delta frame, or null when the delta is not smaller than the payload. */
  private readonly frames: Array<{ codec: Codec; frame: SharedFrame | null }> = [];

  constructor(
    /** The full message, whose payload a delta replaces. */
    private readonly message: MessageFrame,
    readonly publication: Publication,
    /** What the subscribers that get a delta last received; null for the channel's first. */
    readonly previous: Publication | null,
    private readonly sourceBytes: Array<{ codec: Codec; bytes: Uint8Array }>,
    /** The full message as encoded for a codec, to compare sizes with. */
    private readonly full: (codec: Codec) => SharedFrame,
  ) {}

  /** The delta message for a subscriber on `codec` whose last message was `previous`; null: send the full one. */
  frameFor(codec: Codec): SharedFrame | null {
    for (const entry of this.frames) if (entry.codec === codec) return entry.frame;
    const target = bytesFor(this.targetBytes, codec, this.publication.payload);
    const source = bytesFor(this.sourceBytes, codec, this.previous!.payload);
    const delta = Uint8Array.from(createDelta(source, target));
    let frame: SharedFrame | null = null;
    if (delta.byteLength < target.byteLength) {
      const encoded = codec.encode({ ...this.message, payload: deltaPayload(codec, delta), delta: true });
      const data = typeof encoded === 'string' ? Buffer.from(encoded) : encoded;
      // Smaller as sent: on JSON, quotes and bytes over 0x7f in the delta cost more than one byte each.
      if (data.byteLength < this.full(codec).data.byteLength) frame = { data, binary: codec.binary };
    }
    this.frames.push({ codec, frame });
    return frame;
  }
}

function bytesFor(cache: Array<{ codec: Codec; bytes: Uint8Array }>, codec: Codec, payload: unknown): Uint8Array {
  for (const entry of cache) if (entry.codec === codec) return entry.bytes;
  const bytes = payloadBytes(codec, payload);
  cache.push({ codec, bytes });
  return bytes;
}
