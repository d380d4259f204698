// Issue 19, item 4: a token's `channels` globs were compiled to regular
// expressions that backtrack: `t:*:*:*:*:x` against a 255-character channel
// blocked the event loop for up to a second per subscribe, five stars about a
// minute. Globs are now matched without backtracking; the same answers as before.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { globMatches } from '../../src/server/core/glob.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

/** The old matcher, as the reference for what each pattern means. */
function byRegex(pattern: string, channel: string): boolean {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`).test(channel);
}

describe('globMatches', () => {
  it('answers as the regular expression did, for patterns and channels over a small alphabet', () => {
    const text = (max: number) => fc.string({ unit: fc.constantFrom('a', 'b', ':', '.'), maxLength: max });
    const pattern = fc.string({ unit: fc.constantFrom('a', 'b', ':', '.', '*', '?'), maxLength: 10 });
    fc.assert(
      fc.property(pattern, text(14), (p, c) => globMatches(p, c) === byRegex(p, c)),
      { numRuns: 20_000 },
    );
  });

  it('knows the plain cases', () => {
    expect(globMatches('chat:*', 'chat:lobby')).toBe(true);
    expect(globMatches('chat:*', 'chats:lobby')).toBe(false);
    expect(globMatches('*', '')).toBe(true);
    expect(globMatches('a*a', 'a')).toBe(false);
    expect(globMatches('room:??', 'room:12')).toBe(true);
    expect(globMatches('room:??', 'room:123')).toBe(false);
    expect(globMatches('a.b', 'axb')).toBe(false);
  });
});

describe('a token with many stars', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startServer({ jwtSecret: SECRET, namespaces: { t: { subscribe: 'token' } } });
  });
  afterAll(() => srv.close());

  it('is refused a 255-character channel that does not match at once, and still gets the ones that match', async () => {
    // Five stars: about a minute of backtracking per subscribe with the regular expression.
    const token = await sign({ sub: 'u', channels: ['t:*:*:*:*:*:x'] });
    const client = await RawClient.connect(`${srv.wsUrl}?token=${token}`);
    const long = `t:${':'.repeat(253)}`;
    for (let i = 0; i < 20; i++) {
      const reply = await client.request({ type: 'subscribe', channel: long });
      expect(reply.error.code).toBe('forbidden');
    }
    await client.ok({ type: 'subscribe', channel: 't:a:b:c:d:e:x' });
    await client.close();
  });
});
