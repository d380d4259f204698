// `switchboard/client/delta`: pass `fossil` as the client's `delta` option to
// subscribe with `{ delta: 'fossil' }` (docs/client.md, "Delta compression").
// Apart from the main client so that clients without deltas stay small.
import { applyDelta } from 'fossil-delta';
import type { DeltaDecoder } from './delta-base.js';

export const fossil: DeltaDecoder = {
  name: 'fossil',
  apply: (base, delta) => applyDelta(base, delta),
};

export type { DeltaDecoder } from './delta-base.js';
