// The MessagePack pre-scan (src/protocol/msgpack-bounds.ts): everything the
// library encodes passes it and decodes equal; every truncation, lie about a
// length, trailing byte and too-deep nesting is refused, and the scan throws
// nothing whatever the bytes.
import { DecodeError, ExtData, decode, encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findMapValue, scanMsgpack } from '../../src/protocol/msgpack-bounds.js';
import { nestedDeeperThan } from '../../src/protocol/depth.js';

const key = fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__');
const leaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true }).map((x) => (Object.is(x, -0) ? 0 : x)),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.uint8Array({ maxLength: 300 }),
  fc.date({ noInvalidDate: true }),
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 20 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 20 }),
}));

/** Values whose encodings use the 16- and 32-bit length forms and every ext size. */
const wide: Array<[string, unknown]> = [
  ['str16', 'x'.repeat(300)],
  ['str32', 'y'.repeat(70_000)],
  ['bin16', new Uint8Array(300)],
  ['bin32', new Uint8Array(70_000)],
  ['array16', Array.from({ length: 300 }, (_, i) => i)],
  ['array32', new Array(70_000).fill(1)],
  ['map16', Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]))],
  ['map32', Object.fromEntries(Array.from({ length: 70_000 }, (_, i) => [`k${i}`, i]))],
  ['fixext and ext8/16/32', [1, 2, 4, 8, 16, 3, 300, 70_000].map((n) => new ExtData(7, new Uint8Array(n)))],
  ['timestamps 32, 64 and 96', [new Date(1_000_000_000_000), new Date(1_000_000_000_123), new Date(-5e12)]],
  ['64-bit integers and floats', [2 ** 40, -(2 ** 40), 0.5, -1e300, 2 ** 53 - 1]],
];

describe('valid MessagePack', () => {
  it('every encoded value passes the scan and decodes equal', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        expect(scanMsgpack(bytes, 64)).toBe('ok');
        expect(decode(bytes)).toEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it.each(wide)('%s passes the scan', (_name, v) => {
    const bytes = encode(v);
    expect(scanMsgpack(bytes, 64)).toBe('ok');
    expect(decode(bytes)).toEqual(v);
  });

  it('calls a value too deep exactly when the decoded value nests deeper than the limit', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), (v, max) => {
        const bytes = encode(v);
        expect(scanMsgpack(bytes, max) === 'tooDeep').toBe(nestedDeeperThan(decode(bytes), max));
      }),
      { numRuns: 500 },
    );
  });
});

describe('broken MessagePack', () => {
  it('refuses every strict prefix of a valid encoding as oversized', () => {
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encode(v);
        for (let end = 0; end < bytes.length; end++) expect(scanMsgpack(bytes.subarray(0, end), 64)).toBe('oversized');
      }),
      { numRuns: 150 },
    );
  });

  it.each(wide)('refuses the prefixes of %s', (_name, v) => {
    const bytes = encode(v);
    for (const end of [0, 1, 2, 3, 4, 5, 6, 9, 17, 100, bytes.length >> 1, bytes.length - 1]) {
      if (end < bytes.length) expect(scanMsgpack(bytes.subarray(0, end), 64)).toBe('oversized');
    }
  });

  it('refuses trailing bytes and the never-used byte 0xc1', () => {
    fc.assert(
      fc.property(value, fc.uint8Array({ minLength: 1, maxLength: 4 }), (v, extra) => {
        expect(scanMsgpack(new Uint8Array([...encode(v), ...extra]), 64)).toBe('invalid');
      }),
    );
    expect(scanMsgpack(new Uint8Array([0xc1]), 64)).toBe('invalid');
    expect(scanMsgpack(new Uint8Array([0x92, 0x01, 0xc1]), 64)).toBe('invalid');
  });

  it('refuses declared lengths the bytes left cannot hold', () => {
    const u32 = (head: number, n: number, ...rest: number[]) => new Uint8Array([head, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255, ...rest]);
    expect(scanMsgpack(u32(0xdd, 1_000_000, 1, 2, 3), 64)).toBe('oversized');
    expect(scanMsgpack(u32(0xdd, 3, 1, 2, 3), 64)).toBe('ok');
    expect(scanMsgpack(u32(0xdf, 2, 1, 2, 3), 64)).toBe('oversized'); // two entries need four values
    expect(scanMsgpack(u32(0xdb, 0xffffffff, 0x61), 64)).toBe('oversized');
    expect(scanMsgpack(u32(0xc6, 0xffffffff, 0x61), 64)).toBe('oversized');
    expect(scanMsgpack(u32(0xc9, 0xffffffff, 0x01, 0x61), 64)).toBe('oversized');
    // 200 fixarrays of two: each fits on its own, but together they owe more
    // elements than bytes are left, which the running total catches.
    const chain = new Uint8Array(200).fill(0x92); // fixarrays of two
    expect(scanMsgpack(chain, 1_000)).toBe('oversized');
  });

  it('refuses 65 levels at a limit of 64, and counts ext values as a level', () => {
    const nested = (levels: number) => new Uint8Array([...new Uint8Array(levels - 1).fill(0x91), 0x90]);
    expect(scanMsgpack(nested(64), 64)).toBe('ok');
    expect(scanMsgpack(nested(65), 64)).toBe('tooDeep');
    expect(scanMsgpack(encode([[new Date(0)]]), 2)).toBe('tooDeep');
    expect(scanMsgpack(encode([[new Uint8Array(3)]]), 2)).toBe('ok');
  });

  it('never throws on random bytes, and agrees with the library on what is complete', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const verdict = scanMsgpack(bytes, 64);
        let decoded: { value: unknown } | undefined;
        let failure: unknown;
        try {
          decoded = {
            value: decode(bytes, {
              maxStrLength: bytes.length,
              maxBinLength: bytes.length,
              maxArrayLength: bytes.length,
              maxMapLength: bytes.length,
              maxExtLength: bytes.length,
            }),
          };
        } catch (error) {
          failure = error;
        }
        // What the library decodes, and is not too deep, the scan passes ...
        if (decoded && !nestedDeeperThan(decoded.value, 64)) expect(verdict).toBe('ok');
        // ... and what the scan passes, the library finds complete (it may still refuse keys or timestamps).
        if (verdict === 'ok' && failure) expect(failure).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('findMapValue', () => {
  const bomb = [0xdd, 0x00, 0x0f, 0x42, 0x40, 0xdd, 0x00, 0x0f, 0x42, 0x40];

  it('finds an id that comes before a bomb', () => {
    const bytes = new Uint8Array([0x83, ...encode('id'), ...encode('abc'), ...encode('payload'), ...bomb]);
    const span = findMapValue(bytes, 'id', 64)!;
    expect(decode(bytes.subarray(...span))).toBe('abc');
  });

  it('gives up at the bomb when the id comes after it', () => {
    const bytes = new Uint8Array([0x82, ...encode('payload'), ...bomb, ...encode('id'), 7]);
    expect(findMapValue(bytes, 'id', 64)).toBeUndefined();
  });

  it('finds nothing in what is not a map, and stops within a map that lies about its entries', () => {
    expect(findMapValue(new Uint8Array([]), 'id', 64)).toBeUndefined();
    expect(findMapValue(encode(['id', 1]), 'id', 64)).toBeUndefined();
    expect(findMapValue(new Uint8Array([0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x01]), 'id', 64)).toBeUndefined();
  });
});
