// How big a presence info is: measured as it is stored and sent between
// nodes (MessagePack), whoever set it: a client's presence_update, or the
// backend's connect or subscribe answer (limits.presenceInfoBytes bounds both).
import { encode } from '@msgpack/msgpack';

export function presenceInfoBytes(info: unknown): number {
  return encode(info, { ignoreUndefined: true }).byteLength;
}
