// Where a client's token comes from, and when it expires.

/** A fixed token, or a function asked before every connect and before expiry. */
export type TokenSource = string | (() => string | Promise<string>);

export async function resolveToken(source: TokenSource | undefined): Promise<string | null> {
  if (source === undefined) return null;
  return typeof source === 'string' ? source : await source();
}

/** The token's `exp` (seconds), read without verifying: the server verifies. */
export function expiryOf(token: string): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : null;
  } catch {
    return null;
  }
}
