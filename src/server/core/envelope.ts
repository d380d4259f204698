// Turns one decoded frame into a typed client request, or into the bad_request
// error the contract asks for (docs/protocol.md, "Frames").
import type { z } from 'zod';
import { isValidChannelName } from '../../protocol/channels.js';
import { requestId, requestSchemas } from '../../protocol/request-schemas.js';
import type { Codec } from '../../protocol/codec.js';
import { SUBPROTOCOL_MSGPACK, type ClientFrame, type RequestId } from '../../protocol/frames.js';
import { MAX_DEPTH, nestedDeeperThan, tooDeep } from '../../protocol/depth.js';
import { findMapValue, scanMsgpack } from '../../protocol/msgpack-bounds.js';
import { describeIssue } from '../issues.js';
import type { LimitName } from '../limit-hits.js';

const schemas = requestSchemas satisfies Record<ClientFrame['type'], z.ZodType>;

/** A refusal names the bound it hit, if any, for `switchboard_limit_hits_total`. */
export type ParsedFrame = { ok: true; frame: ClientFrame } | { ok: false; id?: RequestId; message: string; limit?: LimitName };

/** Validate an already-decoded frame (JSON.parse or MessagePack output). */
export function parseClientFrame(value: unknown): ParsedFrame {
  return parseDecoded(value, true);
}

/** The same with the schemas alone: the reference the hand-checked shapes are tested against. */
export function parseClientFrameBySchema(value: unknown): ParsedFrame {
  return parseDecoded(value, false);
}

function parseDecoded(value: unknown, quickly: boolean): ParsedFrame {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: 'a frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  const id = record.id as RequestId | undefined;
  if (id !== undefined && !isRequestId(id)) {
    return { ok: false, message: 'id must be an integer or a string of at most 64 characters' };
  }
  const fail = (message: string): ParsedFrame => (id === undefined ? { ok: false, message } : { ok: false, id, message });
  const { type } = record;
  if (typeof type !== 'string') return fail('type must be a string');
  // The frequent, well-formed requests skip the schemas; anything else gets their answer.
  const quick = quickly ? quickFrame(type, record) : null;
  if (quick) {
    if (id !== undefined) quick.id = id;
    return { ok: true, frame: quick };
  }
  if (!Object.hasOwn(schemas, type)) return fail(`unknown type "${type.slice(0, 64)}"`);
  const parsed = schemas[type as ClientFrame['type']].safeParse(record);
  if (!parsed.success) {
    return fail(describeIssue(parsed.error.issues[0]!, type));
  }
  const frame = { ...parsed.data, type } as ClientFrame;
  if (id !== undefined) frame.id = id;
  return { ok: true, frame };
}

/** What `requestId` accepts: an integer (a safe one, as zod's int) or a string of at most 64 characters. */
function isRequestId(value: unknown): value is RequestId {
  return typeof value === 'number' ? Number.isSafeInteger(value) : typeof value === 'string' && value.length <= 64;
}

function isPosition(value: unknown): value is { epoch: string; offset: number } {
  if (typeof value !== 'object' || value === null) return false;
  const { epoch, offset } = value as Record<string, unknown>;
  return typeof epoch === 'string' && Number.isSafeInteger(offset) && (offset as number) >= 0;
}

/**
 * ping, publish, subscribe and unsubscribe checked by hand: the frame their
 * schema would give (unknown keys dropped), or null to let the schema decide
 * and word the error. Accepts nothing the schemas refuse.
 */
function quickFrame(type: string, record: Record<string, unknown>): ClientFrame | null {
  switch (type) {
    case 'ping':
      return { type };
    case 'publish': {
      const { channel, payload, idempotencyKey: key, exclude: ex } = record;
      if (typeof channel !== 'string' || !isValidChannelName(channel) || payload === undefined) return null;
      const frame: ClientFrame = { type, channel, payload };
      if (key !== undefined) {
        if (typeof key !== 'string' || key.length < 1 || key.length > 64) return null;
        frame.idempotencyKey = key;
      }
      if (ex !== undefined) {
        if (ex !== 'self') return null;
        frame.exclude = ex;
      }
      return frame;
    }
    case 'subscribe': {
      const { channel, since, exclude: ex } = record;
      if (typeof channel !== 'string' || !isValidChannelName(channel)) return null;
      // Rarer fields (rewind, delta) take the schema's path.
      if (record.rewind !== undefined || record.delta !== undefined) return null;
      const frame: ClientFrame = { type, channel };
      if (since !== undefined) {
        if (!isPosition(since)) return null;
        frame.since = { epoch: since.epoch, offset: since.offset };
      }
      if (ex !== undefined) {
        if (ex !== 'self') return null;
        frame.exclude = ex;
      }
      return frame;
    }
    case 'unsubscribe': {
      const { channel } = record;
      return typeof channel === 'string' && isValidChannelName(channel) ? { type, channel } : null;
    }
    default:
      return null;
  }
}

/** Parse a text frame: depth, JSON, then shape. */
export function parseTextFrame(text: string): ParsedFrame {
  if (tooDeep(text)) return { ok: false, message: `frame is nested deeper than ${MAX_DEPTH} levels`, limit: 'maxDepth' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, message: 'frame is not valid JSON' };
  }
  return parseClientFrame(value);
}

/** Parse a binary frame with a binary codec (MessagePack): vet, decode, depth, then shape. */
export function parseBinaryFrame(codec: Codec, data: Uint8Array): ParsedFrame {
  const msgpack = codec.subprotocol === SUBPROTOCOL_MSGPACK;
  if (msgpack) {
    // Before decoding: the library allocates whatever lengths the bytes declare.
    const verdict = scanMsgpack(data, MAX_DEPTH);
    if (verdict !== 'ok') return refuseMsgpack(codec, data, verdict);
  }
  let value: unknown;
  try {
    value = codec.decode(data);
  } catch {
    return { ok: false, message: `frame is not valid ${codec.subprotocol}` };
  }
  // The MessagePack scan has counted depth already.
  if (!msgpack && nestedDeeperThan(value, MAX_DEPTH)) {
    return { ok: false, message: `frame is nested deeper than ${MAX_DEPTH} levels`, limit: 'maxDepth' };
  }
  return parseClientFrame(value);
}

/** An id string of 64 characters takes at most 256 UTF-8 bytes plus a header. */
const MAX_ID_BYTES = 261;

function refuseMsgpack(codec: Codec, data: Uint8Array, verdict: 'tooDeep' | 'oversized' | 'invalid'): ParsedFrame {
  const failure: ParsedFrame =
    verdict === 'tooDeep'
      ? { ok: false, message: `frame is nested deeper than ${MAX_DEPTH} levels`, limit: 'maxDepth' }
      : verdict === 'oversized'
        ? {
            ok: false,
            message: `MessagePack structure declares more elements or bytes than the frame's ${data.byteLength} bytes hold`,
            limit: 'msgpackStructure',
          }
        : { ok: false, message: `frame is not valid ${codec.subprotocol}` };
  // Answer under the frame's id when it comes before the part that failed.
  const span = findMapValue(data, 'id', MAX_DEPTH);
  if (span && span[1] - span[0] <= MAX_ID_BYTES) {
    try {
      const id = requestId.safeParse(codec.decode(data.subarray(span[0], span[1])));
      if (id.success) failure.id = id.data;
    } catch {
      // an id that does not decode is no id
    }
  }
  return failure;
}
