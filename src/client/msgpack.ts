// `switchboard/client/msgpack`: pass as `codec` to speak switchboard.v1.msgpack,
// where Uint8Array and ArrayBuffer values travel as raw bytes.
export { msgpackCodec as msgpack } from '../protocol/msgpack.js';
