// A subscribe's page worked out from a wider read of the same channel
// (narrowSince, narrowNewest: how the hub lets one read serve a reconnect
// storm) is the page historyPage would have answered that subscribe alone,
// for every held range, position and epoch: checked exhaustively over small
// channels, as the memory broker reads (every held publication) and as the
// Redis broker reads (only those after `since`, or all for another epoch).
import { describe, expect, it } from 'vitest';
import type { HistoryQuery } from '../../src/brokers/broker.js';
import { encodePublication, historyPage, narrowNewest, narrowSince, type StoredPublication } from '../../src/brokers/history.js';

const EPOCH = 'current';

/** A channel whose newest offset is `newest`, holding `first`..`newest` (none when first > newest). */
function channel(first: number, newest: number): StoredPublication[] {
  const held: StoredPublication[] = [];
  for (let offset = first; offset <= newest; offset++) held.push({ offset, at: 0, data: encodePublication({ payload: { n: offset } }) });
  return held;
}

type Reader = (held: StoredPublication[], newest: number, query: HistoryQuery) => ReturnType<typeof historyPage>;

const readers: Array<[string, Reader]> = [
  ['as the memory broker reads', (held, newest, query) => historyPage(EPOCH, newest, held, query)],
  [
    'as the Redis broker reads',
    (held, newest, query) => {
      // The READ script: entries after `since` in the channel's epoch, all of them for another epoch.
      const since = query.since;
      const range = since && since.epoch === EPOCH ? held.filter((e) => e.offset > since.offset) : held;
      return historyPage(EPOCH, newest, range, query);
    },
  ],
];

/** Every channel of up to 6 publications: held ranges including none, evicted prefixes, and a newest offset of 0. */
function* channels(): Generator<{ held: StoredPublication[]; newest: number }> {
  for (let newest = 0; newest <= 6; newest++) {
    for (let first = 1; first <= newest + 1; first++) yield { held: channel(first, newest), newest };
  }
}

describe.each(readers)('%s', (_name, read) => {
  it('narrowSince: a page from an older position in the same epoch is the page of the newer one', () => {
    let checked = 0;
    for (const { held, newest } of channels()) {
      for (const epoch of [EPOCH, 'another']) {
        for (let wide = 0; wide <= newest + 2; wide++) {
          const from = { epoch, offset: wide };
          const page = read(held, newest, { since: from });
          for (let offset = wide; offset <= newest + 2; offset++) {
            const since = { epoch, offset };
            expect(narrowSince(page, from, since), `held ${held[0]?.offset ?? '-'}..${newest}, read from ${wide}, since ${offset}, ${epoch}`).toEqual(
              read(held, newest, { since }),
            );
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(500);
  });

  it('narrowNewest: the newest few from a read of more is the read of the few', () => {
    for (const { held, newest } of channels()) {
      for (let wide = 0; wide <= 8; wide++) {
        const page = read(held, newest, { limit: wide });
        for (let limit = 0; limit <= wide; limit++) expect(narrowNewest(page, wide, limit)).toEqual(read(held, newest, { limit }));
      }
    }
  });
});

it('refuses a read that does not cover the position or the limit', () => {
  const page = historyPage(EPOCH, 3, channel(1, 3), { since: { epoch: EPOCH, offset: 2 } });
  expect(() => narrowSince(page, { epoch: EPOCH, offset: 2 }, { epoch: EPOCH, offset: 1 })).toThrow(/does not cover/);
  expect(() => narrowSince(page, { epoch: EPOCH, offset: 2 }, { epoch: 'another', offset: 3 })).toThrow(/does not cover/);
  expect(() => narrowNewest(page, 2, 3)).toThrow(/does not cover/);
});
