// A close frame's reason is at most 123 bytes of UTF-8 (RFC 6455 section 5.5:
// control frames carry at most 125 bytes, two of them the code). `ws` throws a
// RangeError for a longer one, so every reason, whoever wrote it (a hook's
// refusal, an operator's disconnect), is fitted here before it reaches a socket.
// Shared by server and client; no Node built-ins.

export const MAX_CLOSE_REASON_BYTES = 123;

const ELLIPSIS = '…'; // 3 bytes of UTF-8

/** UTF-8 bytes of one code point (a lone surrogate is written as U+FFFD: 3 bytes). */
function utf8Length(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/**
 * `reason` as it may travel: unchanged when it fits in 123 bytes, otherwise
 * cut on a character boundary and ended with "…", 123 bytes at the most.
 */
export function fitCloseReason(reason: string): string {
  // No UTF-16 unit takes more than three bytes: most reasons need no count.
  if (reason.length * 3 <= MAX_CLOSE_REASON_BYTES) return reason;
  let bytes = 0;
  let fits = 0; // UTF-16 units that fit whole
  let fitsWithEllipsis = 0;
  for (const char of reason) {
    bytes += utf8Length(char.codePointAt(0)!);
    if (bytes > MAX_CLOSE_REASON_BYTES) return reason.slice(0, fitsWithEllipsis) + ELLIPSIS;
    fits += char.length;
    if (bytes <= MAX_CLOSE_REASON_BYTES - 3) fitsWithEllipsis = fits;
  }
  return reason;
}

/** The reason of a 1012 or 1013 close: wait about this long (ms) before reconnecting (docs/protocol.md, "Deploys without storms"). */
export function retryInReason(ms: number): string {
  return `{"retryIn":${Math.max(0, Math.round(ms))}}`;
}

/** The retryIn of a close reason, or null when it has none (any other reason, or a malformed one). */
export function retryInOf(reason: string): number | null {
  if (!reason.startsWith('{')) return null;
  try {
    const retryIn = (JSON.parse(reason) as { retryIn?: unknown }).retryIn;
    return typeof retryIn === 'number' && Number.isFinite(retryIn) && retryIn >= 0 ? retryIn : null;
  } catch {
    return null;
  }
}
