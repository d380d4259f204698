// A pre-scan of untrusted MessagePack bytes, run before the library decodes
// them. @msgpack/msgpack allocates each array and map at its declared length
// before reading a single element, so 5 bytes can ask for a 4-billion-slot
// array. This walk allocates nothing per element and takes time linear in the
// byte count: every declared length is checked against the bytes left (each
// element still owed needs at least one byte, a map entry two), and nesting
// is counted on the way down. No Node built-ins: src/protocol is shared with
// the browser client.

/**
 * `tooDeep`: containers nest deeper than allowed. `oversized`: the structure
 * declares more than the bytes left can hold (a lie, or a truncated frame).
 * `invalid`: the never-used byte 0xc1, or bytes after the value.
 */
export type MsgpackVerdict = 'ok' | 'tooDeep' | 'oversized' | 'invalid';

const TOO_DEEP = -1;
const OVERSIZED = -2;
const INVALID = -3;

/** Big-endian unsigned integer of 1, 2 or 4 bytes; the caller has checked they exist. */
function readLength(bytes: Uint8Array, pos: number, width: number): number {
  if (width === 1) return bytes[pos]!;
  if (width === 2) return (bytes[pos]! << 8) | bytes[pos + 1]!;
  // Multiply the top byte: a shift by 24 would go negative.
  return bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
}

/**
 * Walk one value starting at `start`. Returns the offset just past it, or a
 * negative code (see `verdictOf`). Containers count towards `maxDepth` (the
 * outermost is level 1), and so do ext values, which decode to objects.
 */
export function walkMsgpack(bytes: Uint8Array, start: number, maxDepth: number): number {
  const end = bytes.length;
  // Elements still owed by each open container, innermost last.
  const remaining = new Float64Array(maxDepth);
  let depth = 0;
  let pos = start;
  // Values still owed in total: each needs at least one byte, so this can never exceed what is left.
  let owed = 1;
  while (owed > 0) {
    if (pos >= end) return OVERSIZED;
    const head = bytes[pos++]!;
    owed--;
    if (depth > 0) remaining[depth - 1]!--;
    let lengthWidth = 0; // bytes of a length field after the head
    let skip = 0; // payload bytes after the head (and length field)
    let children = -1; // values inside, for a container; 0 below marks one whose length field follows
    let ext = false;
    if (head <= 0x7f || head >= 0xe0) {
      // fixint
    } else if (head <= 0x8f) children = 2 * (head & 0x0f);
    else if (head <= 0x9f) children = head & 0x0f;
    else if (head <= 0xbf) skip = head & 0x1f;
    else {
      switch (head) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break; // nil, false, true
        case 0xc4:
        case 0xd9:
          lengthWidth = 1;
          break; // bin8, str8
        case 0xc5:
        case 0xda:
          lengthWidth = 2;
          break; // bin16, str16
        case 0xc6:
        case 0xdb:
          lengthWidth = 4;
          break; // bin32, str32
        case 0xc7:
          lengthWidth = 1;
          skip = 1;
          ext = true;
          break; // ext8: length, then a type byte
        case 0xc8:
          lengthWidth = 2;
          skip = 1;
          ext = true;
          break;
        case 0xc9:
          lengthWidth = 4;
          skip = 1;
          ext = true;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
          skip = 2;
          ext = true;
          break; // fixext: type byte + 1, 2, 4, 8, 16
        case 0xd5:
          skip = 3;
          ext = true;
          break;
        case 0xd6:
          skip = 5;
          ext = true;
          break;
        case 0xd7:
          skip = 9;
          ext = true;
          break;
        case 0xd8:
          skip = 17;
          ext = true;
          break;
        case 0xdc:
          lengthWidth = 2;
          children = 0;
          break; // array16
        case 0xdd:
          lengthWidth = 4;
          children = 0;
          break; // array32
        case 0xde:
          lengthWidth = 2;
          children = 0;
          break; // map16
        case 0xdf:
          lengthWidth = 4;
          children = 0;
          break; // map32
        default:
          return INVALID; // 0xc1, never used
      }
    }
    if (lengthWidth > 0) {
      if (lengthWidth + owed > end - pos) return OVERSIZED;
      const length = readLength(bytes, pos, lengthWidth);
      pos += lengthWidth;
      if (children === 0) children = head === 0xde || head === 0xdf ? 2 * length : length;
      else skip += length;
    }
    if (children >= 0) {
      owed += children;
      if (owed > end - pos) return OVERSIZED;
      if (depth + 1 > maxDepth) return TOO_DEEP;
      if (children > 0) {
        remaining[depth++] = children;
        continue;
      }
    } else {
      if (skip + owed > end - pos) return OVERSIZED;
      if (ext && depth + 1 > maxDepth) return TOO_DEEP;
      pos += skip;
    }
    // This value is complete: close every container it completed.
    while (depth > 0 && remaining[depth - 1] === 0) depth--;
  }
  return pos;
}

function verdictOf(code: number): MsgpackVerdict {
  return code === TOO_DEEP ? 'tooDeep' : code === OVERSIZED ? 'oversized' : 'invalid';
}

/** Vet a whole frame: exactly one value, within `maxDepth`, every length backed by bytes. */
export function scanMsgpack(bytes: Uint8Array, maxDepth: number): MsgpackVerdict {
  const end = walkMsgpack(bytes, 0, maxDepth);
  if (end < 0) return verdictOf(end);
  return end === bytes.length ? 'ok' : 'invalid';
}

/** True when the value at [from, to) is a MessagePack string whose bytes are the ASCII `name`. */
function isStringOf(bytes: Uint8Array, from: number, to: number, name: string): boolean {
  const head = bytes[from]!;
  const header = head >= 0xa0 && head <= 0xbf ? 1 : head === 0xd9 ? 2 : head === 0xda ? 3 : head === 0xdb ? 5 : 0;
  if (header === 0 || to - from - header !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (bytes[from + header + i] !== name.charCodeAt(i)) return false;
  return true;
}

/**
 * Where the value of `key` lies in a top-level map, read entry by entry up to
 * the first one that fails the walk: so a frame refused for what comes later
 * can still be answered under its id. Undefined when not found before that.
 */
export function findMapValue(bytes: Uint8Array, key: string, maxDepth: number): [number, number] | undefined {
  const head = bytes[0];
  if (head === undefined) return undefined;
  let entries: number;
  let pos: number;
  if (head >= 0x80 && head <= 0x8f) [entries, pos] = [head & 0x0f, 1];
  else if (head === 0xde && bytes.length >= 3) [entries, pos] = [readLength(bytes, 1, 2), 3];
  else if (head === 0xdf && bytes.length >= 5) [entries, pos] = [readLength(bytes, 1, 4), 5];
  else return undefined;
  // Each entry takes at least two bytes, so this loop ends within the frame whatever `entries` claims.
  for (let i = 0; i < entries; i++) {
    const keyEnd = walkMsgpack(bytes, pos, maxDepth - 1);
    if (keyEnd < 0) return undefined;
    const valueEnd = walkMsgpack(bytes, keyEnd, maxDepth - 1);
    if (valueEnd < 0) return undefined;
    if (isStringOf(bytes, pos, keyEnd, key)) return [keyEnd, valueEnd];
    pos = valueEnd;
  }
  return undefined;
}
