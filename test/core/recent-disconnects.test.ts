// The ring of a node's last disconnects behind /api/disconnects: fixed size, newest first.
import { expect, it } from 'vitest';
import { RecentDisconnects } from '../../src/server/core/recent-disconnects.js';

it('keeps only the last entries of its ring', () => {
  const ring = new RecentDisconnects(3);
  for (let i = 0; i < 5; i++) ring.add({ at: String(i), node: 'n', client: `c${i}`, user: null, code: 1000, reason: '', by: 'client' });
  expect(ring.newest().map((d) => d.client)).toEqual(['c4', 'c3', 'c2']);
  expect(ring.newest(2).map((d) => d.client)).toEqual(['c4', 'c3']);
});
