// The SSE event id: one cursor for every channel of a stream, so that a
// browser's `Last-Event-ID` resumes them all (docs/protocol.md, "SSE for a
// plain EventSource"). Compact, and tied to the stream's channel list so that
// a cursor is never applied to channels it was not made for.
//
//   1:<list>:<position>,<position>,...
//
// `1` is the format's version; <list> a hash of the channel list (FNV-1a,
// base 36); one position per channel, in the order of the URL's `channel`
// parameters: `<offset in base 36>@<epoch, URI-encoded>`, or `-` for a
// channel that keeps no history (nothing to resume from).
import type { StreamPosition } from '../../protocol/frames.js';

const VERSION = '1';
const OFFSET = /^[0-9a-z]{1,11}$/;

/** FNV-1a over the channel names, newline-separated: which stream a cursor belongs to. */
export function channelListHash(channels: readonly string[]): string {
  let hash = 0x811c9dc5;
  const text = channels.join('\n');
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(36);
}

/** One channel's part of a cursor. */
export function encodePosition(p: StreamPosition | null): string {
  return p === null ? '-' : `${p.offset.toString(36)}@${encodeURIComponent(p.epoch)}`;
}

/** The cursor of these encoded positions (encodePosition), one per channel. */
export function joinCursor(list: string, parts: readonly string[]): string {
  return `${VERSION}:${list}:${parts.join(',')}`;
}

/** The cursor for these positions (one per channel, null where the channel keeps no history). */
export function encodeCursor(list: string, positions: readonly (StreamPosition | null)[]): string {
  return joinCursor(list, positions.map(encodePosition));
}

/** The positions a cursor holds for `channels`, or null when it is not a cursor of this stream. */
export function decodeCursor(cursor: string, channels: readonly string[]): Array<StreamPosition | null> | null {
  const [version, list, body, ...rest] = cursor.split(':');
  if (version !== VERSION || body === undefined || rest.length > 0 || list !== channelListHash(channels)) return null;
  const parts = body.split(',');
  if (parts.length !== channels.length) return null;
  const positions: Array<StreamPosition | null> = [];
  for (const part of parts) {
    if (part === '-') {
      positions.push(null);
      continue;
    }
    const at = part.indexOf('@');
    const offset = part.slice(0, at);
    if (at <= 0 || !OFFSET.test(offset)) return null;
    let epoch: string;
    try {
      epoch = decodeURIComponent(part.slice(at + 1));
    } catch {
      return null;
    }
    if (epoch === '') return null;
    positions.push({ epoch, offset: parseInt(offset, 36) });
  }
  return positions;
}
