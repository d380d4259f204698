// Idempotency keys for publishes: a random prefix per client (so that two
// clients, or one client after a page reload, never share a key) and a counter.
// Browser-safe: Web Crypto, present in browsers and in Node 20.

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';

/** A function returning a new key on each call: 16 random characters (96 bits), "." and a base-36 counter. */
export function idempotencyKeys(): () => string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  let prefix = '';
  for (const byte of bytes) prefix += ALPHABET[byte & 63];
  let counter = 0;
  return () => `${prefix}.${(counter++).toString(36)}`;
}
