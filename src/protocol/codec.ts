// How frames become bytes on a connection. The JSON codec is the default; the
// MessagePack one arrives with the client SDK.
import { SUBPROTOCOL_JSON } from './frames.js';

export interface Codec {
  /** The subprotocol this codec speaks. */
  readonly subprotocol: string;
  /** True when frames are binary WebSocket frames. */
  readonly binary: boolean;
  encode(frame: unknown): string | Uint8Array;
}

export const jsonCodec: Codec = {
  subprotocol: SUBPROTOCOL_JSON,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
};
