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
