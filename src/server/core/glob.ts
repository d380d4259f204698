// Glob patterns of a token's `channels` claim: `*` matches any run of
// characters, `?` any one, everything else itself. Matched without a regular
// expression: `t:*:*:*:*:x` compiled to `.*` groups backtracks for minutes on
// a 255-character channel, and the claim is written by whoever signs tokens.

/**
 * True when `channel` matches `pattern`. The pattern is cut at its stars; the
 * pieces are matched in order, each at its leftmost place after the one
 * before (the first at the start, the last at the end). Leftmost is always
 * right for `*`, so nothing is retried: at most channel x pattern length steps.
 */
export function globMatches(pattern: string, channel: string): boolean {
  const pieces = pattern.split('*');
  const first = pieces[0]!;
  if (pieces.length === 1) return first.length === channel.length && pieceAt(first, channel, 0);
  const last = pieces[pieces.length - 1]!;
  if (first.length + last.length > channel.length) return false;
  if (!pieceAt(first, channel, 0) || !pieceAt(last, channel, channel.length - last.length)) return false;
  let from = first.length;
  const end = channel.length - last.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    const piece = pieces[i]!;
    const at = leftmost(piece, channel, from, end);
    if (at < 0) return false;
    from = at + piece.length;
  }
  return true;
}

/** True when `piece` (`?` for any character) matches `channel` at `at`. */
function pieceAt(piece: string, channel: string, at: number): boolean {
  for (let i = 0; i < piece.length; i++) {
    const want = piece.charCodeAt(i);
    if (want !== 63 /* ? */ && want !== channel.charCodeAt(at + i)) return false;
  }
  return true;
}

/** The first place at or after `from` where `piece` matches and ends by `end`; -1 when none. */
function leftmost(piece: string, channel: string, from: number, end: number): number {
  for (let at = from; at + piece.length <= end; at++) if (pieceAt(piece, channel, at)) return at;
  return -1;
}
