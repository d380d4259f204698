// The client requests of the contract as schemas: the server validates every
// frame with them (server/core/envelope.ts) and frames.ts derives the request
// types from them, so a field is declared once. Only the server imports this
// module at run time; the client takes its types alone, and its bundle no zod.
import { z } from 'zod';
import { isValidChannelName } from './channels.js';

export const requestId = z.union([z.number().int(), z.string().max(64)]);
const channel = z.string().refine(isValidChannelName, 'channel names are 1 to 255 characters from A-Z a-z 0-9 _ - : . @ # /');
/** A position in a channel's history. */
export const streamPosition = z.object({ epoch: z.string(), offset: z.number().int().min(0) });
/** A key that must be present, with any JSON value (null included). */
const anyValue = z.custom<unknown>((value) => value !== undefined, 'required');
/** An idempotency key (docs/protocol.md, "Idempotent publish"): a repeat on the same channel within idempotencyWindow is answered with the first offset. */
export const idempotencyKey = z.string().min(1).max(64);
/** 'self': the connection's own publications are not sent to it (they still advance its position). */
const exclude = z.literal('self').optional();

/** Each request's fields beside `type` and `id`. */
export const requestSchemas = {
  /** `rewind`: the channel's last n publications follow the reply (at most the history size; checked by the hub). */
  subscribe: z
    .object({ channel, since: streamPosition.optional(), exclude, rewind: z.number().int().positive().optional(), delta: z.literal('fossil').optional() })
    .refine((s) => s.rewind === undefined || s.since === undefined, { message: 'rewind and since exclude each other', path: ['rewind'] }),
  unsubscribe: z.object({ channel }),
  publish: z.object({ channel, payload: anyValue, idempotencyKey: idempotencyKey.optional(), exclude }),
  rpc: z.object({ method: z.string().min(1).max(255), payload: anyValue }),
  presence: z.object({ channel }),
  /** The sender's own presence info on a channel it subscribed (at most limits.presenceInfoBytes, checked by the hub). */
  presence_update: z.object({ channel, info: anyValue }),
  /** `limit`: DEFAULT_HISTORY_LIMIT when absent. */
  history: z.object({ channel, limit: z.number().int().positive().optional(), since: streamPosition.optional() }),
  refresh: z.object({ token: z.string().min(1) }),
  ping: z.object({}),
};

export type RequestType = keyof typeof requestSchemas;
