// The switchboard.v1.msgpack codec: one MessagePack map per binary frame, with
// the same fields as JSON. Uint8Array and ArrayBuffer values anywhere in a
// payload travel as MessagePack bin and arrive as Uint8Array with the same bytes.
import { decode, encode } from '@msgpack/msgpack';
import type { Codec } from './codec.js';
import { SUBPROTOCOL_MSGPACK } from './frames.js';

export const msgpackCodec: Codec = {
  subprotocol: SUBPROTOCOL_MSGPACK,
  binary: true,
  encode: (frame) => encode(frame, { ignoreUndefined: true }),
  decode: (data) => {
    if (typeof data === 'string') throw new TypeError('switchboard.v1.msgpack frames are binary');
    // No honest length can exceed the frame's byte count; a second guard behind
    // the pre-scan in the server's parseBinaryFrame (msgpack-bounds.ts).
    const max = data.byteLength;
    return decode(data, { maxStrLength: max, maxBinLength: max, maxArrayLength: max, maxMapLength: max, maxExtLength: max });
  },
};
