// What the backend may answer a proxy call (docs/protocol.md, "Backend proxy"):
// exactly one of `result`, `error` or `disconnect`, and a result of the shape
// its call expects. Anything else is a failed call, as a 500 would be.
import { z } from 'zod';
import { isValidChannelName } from '../../protocol/channels.js';
import { ERROR_CODES, SwitchboardError, type ErrorCode } from '../../protocol/codes.js';
import { presenceInfoBytes } from '../../protocol/presence-info.js';
import { DisconnectError } from '../core/index.js';
import type { ProxyKind } from './config.js';

const ANSWER_KEYS = ['result', 'error', 'disconnect'];

const envelope = z.union([
  z.object({ result: z.record(z.string(), z.unknown()) }),
  z.object({ error: z.object({ code: z.string(), message: z.string().optional() }) }),
  z.object({ disconnect: z.object({ code: z.number().int().min(4000).max(4999), reason: z.string().optional() }) }),
]);

const seconds = z.number().int().positive();

/** Each call's result; unknown fields are ignored, as in frames. */
export const RESULTS = {
  connect: z.object({
    user: z.string().min(1).nullable().optional(),
    info: z.unknown().optional(),
    expiresAt: seconds.nullable().optional(),
    channels: z.array(z.string().refine(isValidChannelName, 'a channel name')).max(1_000).optional(),
  }),
  refresh: z.object({ expiresAt: seconds.nullable().optional(), expired: z.boolean().optional() }),
  subscribe: z.object({ info: z.unknown().optional() }),
  publish: z.object({ payload: z.unknown().optional() }),
  rpc: z.object({ payload: z.unknown().optional() }),
} satisfies Record<ProxyKind, z.ZodType>;

export type ProxyResult<K extends ProxyKind> = z.output<(typeof RESULTS)[K]>;

/** The answer is neither result, error nor disconnect, or its result has the wrong shape. */
export class BadAnswer extends Error {}

const KNOWN_CODES = new Set<string>(ERROR_CODES);

/**
 * The call's result, or throws: the backend's error as a SwitchboardError
 * (codes outside the contract's list become forbidden), its disconnect as a
 * DisconnectError, a malformed answer as BadAnswer.
 */
export function readAnswer<K extends ProxyKind>(kind: K, answer: unknown, infoBytes: number): ProxyResult<K> {
  const one = typeof answer === 'object' && answer !== null && ANSWER_KEYS.filter((key) => key in answer).length === 1;
  const parsed = envelope.safeParse(answer);
  if (!one || !parsed.success) throw new BadAnswer('the answer is not one of {"result"}, {"error"} or {"disconnect"} (4000-4999)');
  const data = parsed.data;
  if ('error' in data) {
    const code = (KNOWN_CODES.has(data.error.code) ? data.error.code : 'forbidden') as ErrorCode;
    throw new SwitchboardError(code, data.error.message ?? 'refused by the backend');
  }
  if ('disconnect' in data) throw new DisconnectError(data.disconnect.code, data.disconnect.reason ?? '');
  const result = RESULTS[kind].safeParse(data.result);
  if (!result.success) throw new BadAnswer(`the ${kind} result has the wrong shape: ${result.error.issues[0]?.message ?? ''}`);
  // Presence info is held for every subscription and sent in every join: the
  // backend's is bounded as a client's own presence_update is.
  if ('info' in result.data && result.data.info !== undefined) {
    const bytes = presenceInfoBytes(result.data.info);
    if (bytes > infoBytes) throw new BadAnswer(`the ${kind} result's info is ${bytes} bytes, over limits.presenceInfoBytes (${infoBytes})`);
  }
  return result.data as ProxyResult<K>;
}
