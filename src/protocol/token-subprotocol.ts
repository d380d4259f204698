// The token as a Sec-WebSocket-Protocol entry (docs/protocol.md, "Connecting"):
// browsers cannot set an Authorization header on a WebSocket, and a token in
// the URL ends up in proxies' access logs; this header is not logged by them.
// The server reads it and never selects it.

export const TOKEN_SUBPROTOCOL_PREFIX = 'switchboard.token.';

/**
 * RFC 6455 subprotocol values are RFC 7230 tokens: visible ASCII without
 * separators. Every JWT (base64url parts joined by `.`) is one; browsers and
 * `ws` throw on anything else.
 */
const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function canCarryToken(token: string): boolean {
  return TOKEN_CHARS.test(token);
}

export function tokenSubprotocol(token: string): string {
  return TOKEN_SUBPROTOCOL_PREFIX + token;
}

/** The token in a Sec-WebSocket-Protocol header, or null. */
export function tokenFromSubprotocols(header: string | undefined): string | null {
  if (header === undefined) return null;
  for (const offered of header.split(',')) {
    const entry = offered.trim();
    if (entry.startsWith(TOKEN_SUBPROTOCOL_PREFIX) && entry.length > TOKEN_SUBPROTOCOL_PREFIX.length) {
      return entry.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
    }
  }
  return null;
}
