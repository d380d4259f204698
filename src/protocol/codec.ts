// How frames become bytes on a connection, and back. JSON is the default;
// MessagePack (msgpack.ts) is opt-in so that clients which never use it do not
// carry it.
import { SUBPROTOCOL_JSON } from './frames.js';

export interface Codec {
  /** The subprotocol this codec speaks. */
  readonly subprotocol: string;
  /** True when frames are binary WebSocket frames. */
  readonly binary: boolean;
  encode(frame: unknown): string | Uint8Array;
  /** Throws on input that is not a valid encoding. */
  decode(data: string | Uint8Array): unknown;
}

export const jsonCodec: Codec = {
  subprotocol: SUBPROTOCOL_JSON,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
  decode: (data) => JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data)) as unknown,
};
