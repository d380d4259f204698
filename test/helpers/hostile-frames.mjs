// Random, odd and mutated Switchboard requests (fast-check arbitraries):
// shared by the fuzz test (test/security/fuzz.test.ts) and the soak's
// attacker (bench/soak-attacker.mjs), which widens them.
import fc from 'fast-check';

export const channelArb = fc.oneof(
  fc.constantFrom('a', 'chat:room', 'feed:news', 'nowhere:x', 'inbox#7', 'x'.repeat(255)),
  fc.stringMatching(/^[A-Za-z0-9_\-:.@#/]{1,20}$/),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ minLength: 256, maxLength: 300 }),
);

/** Values that are valid JSON but odd in any field: huge, negative zero, lone surrogates, empty. */
export const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.5, '', '\u0000', '\ud800', '😀'.repeat(100), [], {}),
  fc.string({ unit: 'grapheme' }),
);

export const requestArb = fc.record(
  {
    type: fc.oneof(fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'rpc', 'presence', 'history', 'refresh', 'ping'), fc.string({ maxLength: 10 })),
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 70 }), oddValue),
    channel: channelArb,
    payload: fc.jsonValue({ maxDepth: 4 }),
    method: fc.oneof(fc.constantFrom('echo', ''), fc.string({ maxLength: 300 })),
    token: fc.oneof(fc.constantFrom('', 'a.b.c', 'eyJhbGciOiJIUzI1NiJ9.e30.x'), fc.string()),
    limit: fc.oneof(fc.integer({ min: -5, max: 500 }), oddValue),
    since: fc.oneof(fc.record({ epoch: fc.string(), offset: fc.integer({ min: -3, max: 1e9 }) }), oddValue),
  },
  { requiredKeys: ['type'] },
);

/** A frame of `arb` with one field replaced by a value of `odd`, removed, or left alone. */
export const mutate = (arb, odd) =>
  fc.tuple(arb, fc.constantFrom('type', 'id', 'channel', 'payload', 'method', 'token', 'limit', 'since', 'none'), fc.option(odd)).map(([frame, key, value]) => {
    const copy = { ...frame };
    if (key !== 'none') {
      if (value === null) delete copy[key];
      else copy[key] = value;
    }
    return copy;
  });

/** A publish whose payload nests arrays 60 to 100,000 deep. */
export const deepJsonArb = fc.integer({ min: 60, max: 100_000 }).map((d) => `{"type":"publish","channel":"a","payload":${'['.repeat(d)}${']'.repeat(d)}}`);
