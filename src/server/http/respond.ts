// Small helpers for JSON answers and bodies on Node's http module.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SwitchboardError, type ErrorCode } from '../../protocol/codes.js';
import { MAX_DEPTH, tooDeep } from '../../protocol/depth.js';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  already_subscribed: 409,
  not_subscribed: 409,
  payload_too_large: 413,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  timeout: 504,
};

/** The HTTP status that answers a contract error code. */
export function statusOf(code: ErrorCode): number {
  return STATUS[code];
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, code: ErrorCode, message: string): void {
  sendJson(res, STATUS[code], { error: { code, message } });
}

/**
 * Read a JSON body of at most `limit` bytes. When a body parser has already
 * read the stream (express.json() and friends), its `req.body` is used: text
 * or bytes are parsed here, a parsed value is checked as if it had been sent.
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  if (req.readableEnded) return alreadyRead(req, limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new SwitchboardError('payload_too_large', `body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return parseBody(Buffer.concat(chunks).toString('utf8'));
}

function alreadyRead(req: IncomingMessage, limit: number): unknown {
  const body = (req as { body?: unknown }).body;
  if (body === undefined) {
    throw new SwitchboardError('bad_request', 'the body was read by another handler and not kept in req.body');
  }
  const isText = typeof body === 'string' || Buffer.isBuffer(body);
  let text: string;
  try {
    text = isText ? body.toString() : JSON.stringify(body);
  } catch {
    throw new SwitchboardError('bad_request', 'req.body cannot be read as JSON');
  }
  // The same bounds as a body read here: size, then depth.
  if (Buffer.byteLength(text) > limit) throw new SwitchboardError('payload_too_large', `body over ${limit} bytes`);
  if (!isText) {
    if (tooDeep(text)) throw new SwitchboardError('bad_request', `body is nested deeper than ${MAX_DEPTH} levels`);
    return body;
  }
  return parseBody(text);
}

function parseBody(text: string): unknown {
  if (tooDeep(text)) throw new SwitchboardError('bad_request', `body is nested deeper than ${MAX_DEPTH} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new SwitchboardError('bad_request', 'body is not valid JSON');
  }
}
