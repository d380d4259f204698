// Error and close codes of the wire contract (docs/protocol.md, "Errors and close codes").
// Shared by server and client; no Node built-ins.

export const ERROR_CODES = [
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'already_subscribed',
  'not_subscribed',
  'rate_limited',
  'payload_too_large',
  'timeout',
  'unavailable',
  'internal',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  UnsupportedData: 1003,
  InvalidPayload: 1007,
  MessageTooBig: 1009,
  InternalError: 1011,
  /** The node is restarting (a paced drain): reconnect after the reason's retryIn. */
  ServiceRestart: 1012,
  /** The node is over its handshake budget: reconnect after the reason's retryIn. */
  TryAgainLater: 1013,
  Reconnect: 4000,
  TokenExpired: 4001,
  Disconnected: 4003,
  SlowConsumer: 4008,
  RateLimited: 4029,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What a client should do after each close code (docs/protocol.md, "Errors and close codes"). */
export type CloseAdvice = 'stop' | 'reconnect' | 'refresh-token';

export function closeAdvice(code: number): CloseAdvice {
  switch (code) {
    case CloseCode.Normal:
    case CloseCode.UnsupportedData:
    case CloseCode.InvalidPayload:
    case CloseCode.MessageTooBig:
    case CloseCode.Disconnected:
      return 'stop';
    case CloseCode.TokenExpired:
      return 'refresh-token';
    default:
      // 1001, 1006, 1011, 1012, 1013, 4000, 4008, 4029 and anything unknown: try again later.
      return 'reconnect';
  }
}

/** An error with a contract code, thrown by handlers and turned into a reply or error frame. */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SwitchboardError';
    this.code = code;
  }
}
