// Structured logs. Only ids, users, addresses and close codes are logged:
// never tokens, headers or query strings.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.SWITCHBOARD_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'switchboard' },
    redact: { paths: ['token', '*.token', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' },
  });
}

/**
 * An error as logged: type, message, code and stack only. Other fields can
 * carry the request target and its query (a URL TypeError's `input`), so a
 * token with it.
 */
export function loggable(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: 'non-error thrown' };
  return { type: error.name, message: error.message, code: (error as NodeJS.ErrnoException).code, stack: error.stack };
}
