// escapeControls, the CLI's guard for a terminal: no control character is
// left, nothing else changes, and escaped JSON still parses to the same value.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { escapeControls } from '../../src/cli/terminal-safe.js';

const CONTROL = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

it('shows C0, DEL, C1 and bidi controls as escapes and leaves other text alone', () => {
  expect(escapeControls('\x1b[2J\x07\x7f\u0085\u009b\u061c\u200e\u200f\u202a\u202e\u2066\u2069\t\r\n')).toBe(
    String.raw`\u001b[2J\u0007\u007f\u0085\u009b\u061c\u200e\u200f\u202a\u202e\u2066\u2069\t\r\n`,
  );
  expect(escapeControls('ann é 中 😀 \\u001b "quoted" \u00a0\u200d')).toBe('ann é 中 😀 \\u001b "quoted" \u00a0\u200d');
});

it('leaves no control character, and escaped JSON parses to the same value', () => {
  const text = fc.string({ unit: 'binary' });
  fc.assert(
    fc.property(fc.oneof(text, fc.dictionary(text, text), fc.jsonValue()), (value) => {
      const shown = escapeControls(JSON.stringify(value));
      expect(shown).not.toMatch(CONTROL);
      expect(JSON.parse(shown)).toEqual(JSON.parse(JSON.stringify(value)));
    }),
  );
});
