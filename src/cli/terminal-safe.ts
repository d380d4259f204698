// Text that came from the network (payloads, channel names, user ids, info,
// the server's error messages, close reasons) must not drive the operator's
// terminal: a publisher's ESC [2J would clear the screen, OSC 52 write the
// clipboard, C1 controls and bidi overrides act or hide text. On a terminal,
// control characters are shown as visible escapes; piped, output is left
// byte-exact for jq and files. The escapes are JSON's, so an escaped JSON
// line still parses to the same value.

// C0, DEL, C1, and the bidi controls (ALM, LRM, RLM, LRE..RLO, LRI..PDI).
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const SHORT: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Every control character as `\n`, `\r`, `\t` or `\uXXXX`; a newline too, so one item stays one line. */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** escapeControls when `stream` is a terminal, the text unchanged otherwise. */
export function safeFor(stream: { isTTY?: boolean }): (text: string) => string {
  return stream.isTTY ? escapeControls : (text) => text;
}

/** A multi-line text (pretty JSON) for `stream`: its own line breaks kept, each line made safe. */
export function safeLinesFor(stream: { isTTY?: boolean }, text: string): string {
  return stream.isTTY ? text.split('\n').map(escapeControls).join('\n') : text;
}
