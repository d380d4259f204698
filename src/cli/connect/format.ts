// How `connect` shows frames on a terminal (time, direction, colour) and what
// a close code means (docs/protocol.md, "Errors and close codes").
import { closeAdvice } from '../../protocol/codes.js';
import { escapeControls as data } from '../terminal-safe.js';

const MEANINGS: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away: the server is draining or restarting',
  1003: 'unsupported data: a frame of the wrong kind for the subprotocol',
  1005: 'closed without a code',
  1006: 'connection lost without a close frame',
  1007: 'invalid payload: the frame could not be decoded',
  1009: 'message too big: a frame over limits.maxPayload',
  1011: 'internal server error',
  1012: "service restart: the node is draining; reconnect after the reason's retryIn (ms)",
  1013: "try again later: the node is over its handshake budget; reconnect after the reason's retryIn (ms)",
  4000: 'reconnect: the server asks the client to come back',
  4001: 'token expired: reconnect with a fresh token',
  4003: 'disconnected by the server: do not reconnect',
  4008: 'slow consumer: the outbound buffer overflowed',
  4029: 'rate limited: too many messages per second',
};

const ADVICE = { stop: 'do not reconnect', reconnect: 'reconnect after a backoff', 'refresh-token': 'reconnect with a fresh token' } as const;

export function describeClose(code: number, reason: string): string {
  const meaning = MEANINGS[code] ?? 'unknown code';
  return `closed ${code}${reason ? ` "${reason}"` : ''}: ${meaning} (advice: ${ADVICE[closeAdvice(code)]})`;
}

export type Paint = (style: keyof typeof STYLES, text: string) => string;

const STYLES = { dim: 2, bold: 1, red: 31, green: 32, yellow: 33, blue: 34, magenta: 35, cyan: 36 } as const;

/** ANSI colours, or none when the terminal cannot show them or NO_COLOR is set. */
export function painter(enabled: boolean): Paint {
  return enabled ? (style, text) => `\x1b[${STYLES[style]}m${text}\x1b[0m` : (_style, text) => text;
}

function clock(): string {
  return new Date().toISOString().slice(11, 23);
}

/** One line per frame: time, arrow, type, the interesting fields, then the rest as JSON; for a terminal, so what the server sent is escaped. */
export function prettyFrame(paint: Paint, direction: 'in' | 'out', frame: unknown): string {
  const arrow = direction === 'in' ? paint('cyan', '←') : paint('yellow', '→');
  const head = `${paint('dim', clock())} ${arrow}`;
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return `${head} ${data(JSON.stringify(frame))}`;
  const { type, ...rest } = frame as Record<string, unknown>;
  const failed = type === 'error' || (type === 'reply' && rest.ok === false);
  const colour = failed ? 'red' : type === 'message' ? 'green' : type === 'join' || type === 'leave' || type === 'presence_update' ? 'magenta' : 'blue';
  const parts = [paint(colour, paint('bold', data(String(type))))];
  if (typeof rest.channel === 'string') {
    parts.push(data(rest.channel));
    delete rest.channel;
  }
  if (type === 'message' && typeof rest.offset === 'number') {
    parts.push(paint('dim', `#${rest.offset}`));
    delete rest.offset;
  }
  if (rest.id !== undefined) {
    parts.push(paint('dim', data(`id=${JSON.stringify(rest.id)}`)));
    delete rest.id;
  }
  if (type === 'reply') {
    delete rest.ok;
    if (failed) {
      const error = rest.error as { code?: string; message?: string } | undefined;
      parts.push(paint('red', data(`${error?.code}: ${error?.message}`)));
      delete rest.error;
    }
  }
  if (Object.keys(rest).length === 1 && 'payload' in rest) parts.push(data(JSON.stringify(rest.payload)));
  else if (Object.keys(rest).length > 0) parts.push(data(JSON.stringify(rest)));
  return `${head} ${parts.join(' ')}`;
}
