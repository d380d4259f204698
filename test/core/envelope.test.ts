// The hand-checked shapes of the frequent requests (src/server/envelope.ts)
// must give exactly what the schemas give: the same frame for what they
// accept, the same error for what they refuse.
import { describe, expect, it } from 'vitest';
import { parseClientFrame, parseClientFrameBySchema } from '../../src/server/core/envelope.js';

const frames: unknown[] = [
  { type: 'ping' },
  { type: 'ping', id: 1 },
  { type: 'ping', id: 'abc', extra: true },
  { type: 'ping', id: 1.5 },
  { type: 'ping', id: 2 ** 53 },
  { type: 'ping', id: 'x'.repeat(65) },
  { type: 'ping', id: null },
  { type: 'publish', channel: 'a', payload: 1, id: 7 },
  { type: 'publish', channel: 'a:b/c', payload: null },
  { type: 'publish', channel: 'a', payload: { deep: [1, 2] }, idempotencyKey: 'k', exclude: 'self', junk: 1 },
  { type: 'publish', channel: 'a' },
  { type: 'publish', channel: '', payload: 1 },
  { type: 'publish', channel: 'sp ace', payload: 1 },
  { type: 'publish', channel: 'x'.repeat(256), payload: 1 },
  { type: 'publish', channel: 5, payload: 1 },
  { type: 'publish', channel: 'a', payload: 1, idempotencyKey: '' },
  { type: 'publish', channel: 'a', payload: 1, idempotencyKey: 'k'.repeat(65) },
  { type: 'publish', channel: 'a', payload: 1, idempotencyKey: 3 },
  { type: 'publish', channel: 'a', payload: 1, exclude: 'others' },
  { type: 'subscribe', channel: 'a', id: 'r' },
  { type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: 0, more: 1 }, exclude: 'self' },
  { type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: -1 } },
  { type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: 1.5 } },
  { type: 'subscribe', channel: 'a', since: { epoch: 1, offset: 1 } },
  { type: 'subscribe', channel: 'a', since: null },
  { type: 'subscribe', channel: 'a', since: [] },
  { type: 'subscribe', channel: 'a', exclude: true },
  { type: 'subscribe' },
  { type: 'unsubscribe', channel: 'a' },
  { type: 'unsubscribe', channel: '#bad channel' },
  { type: 'unsubscribe', channel: null, id: 3 },
  { type: 'history', channel: 'a', limit: 3 },
  { type: 'nope' },
  { type: 3 },
  [],
  null,
];

describe('hand-checked shapes', () => {
  it.each(frames.map((frame) => [JSON.stringify(frame)?.slice(0, 80), frame]))('%s parses as the schemas do', (_, frame) => {
    expect(parseClientFrame(frame)).toEqual(parseClientFrameBySchema(frame));
  });

  it('keys the schemas drop are dropped', () => {
    expect(parseClientFrame({ type: 'ping', id: 'abc', extra: true })).toEqual({ ok: true, frame: { type: 'ping', id: 'abc' } });
    const parsed = parseClientFrame({ type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: 0, more: 1 } });
    expect(parsed).toEqual({ ok: true, frame: { type: 'subscribe', channel: 'a', since: { epoch: 'e', offset: 0 } } });
  });
});
