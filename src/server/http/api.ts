// The HTTP API of docs/protocol.md, "HTTP API", for server-side callers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isValidChannelName } from '../../protocol/channels.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { LEASE_LIST_SIZE, type Operations, type Target } from '../core/index.js';
import { describeIssue } from '../issues.js';
import { loggable } from '../logger.js';
import { readJson, sendError, sendJson } from './respond.js';

/** What the API works with: the core's operations, the config (key, limits), the logger. */
export interface ApiContext {
  operations: Operations;
  config: Config;
  logger: Logger;
}

const channel = z.string().refine(isValidChannelName, 'invalid channel name');
const anyValue = z.custom<unknown>((value) => value !== undefined, 'required');
const publishBody = z.object({ channel, payload: anyValue, idempotencyKey: z.string().min(1).max(64).optional() });
const broadcastBody = z.object({ channels: z.array(channel).min(1), payload: anyValue });
const disconnectBody = z
  .object({
    user: z.string().optional(),
    client: z.string().optional(),
    code: z.number().int().min(4000).max(4999).default(CloseCode.Disconnected),
    reason: z.string().max(120).default('disconnected by the server'),
  })
  .refine((body) => (body.user === undefined) !== (body.client === undefined), 'give exactly one of user or client');

const controlBody = z
  .object({ user: z.string().optional(), client: z.string().optional(), channel })
  .refine((body) => (body.user === undefined) !== (body.client === undefined), 'give exactly one of user or client');

/** Longest `user` or `jti` a revocation holds: limits.revocations bounds their count, this their bytes. */
export const MAX_REVOCATION_KEY = 1_024;
const revocationKey = z.string().min(1).max(MAX_REVOCATION_KEY);

/** `{user, before}` (seconds: the user's tokens issued before) or `{jti}`; optional `expiresAt` (seconds) ends the revocation sooner. */
const revokeBody = z
  .object({
    user: revocationKey.optional(),
    before: z.number().int().nonnegative().optional(),
    jti: revocationKey.optional(),
    expiresAt: z.number().int().positive().optional(),
  })
  .refine(
    (b) => (b.jti === undefined ? b.user !== undefined && b.before !== undefined : b.user === undefined && b.before === undefined),
    'give {user, before} or {jti}',
  );
const presenceUpdateBody = z
  .object({ user: z.string().optional(), client: z.string().optional(), channel, info: anyValue })
  .refine((body) => (body.user === undefined) !== (body.client === undefined), 'give exactly one of user or client');

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new SwitchboardError('bad_request', describeIssue(result.error.issues[0]!, 'body'));
}

function authorized(req: IncomingMessage, apiKey: string | null): boolean {
  if (!apiKey) return false;
  const match = /^apikey\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(apiKey);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

type ApiHandler = (api: ApiContext, req: IncomingMessage, query: URLSearchParams) => Promise<unknown>;

function body(api: ApiContext, req: IncomingMessage): Promise<unknown> {
  return readJson(req, api.config.limits.maxPayload);
}

/** Every API route, by path then method; the paths are all handleRequest claims under /api/. */
const ROUTES: Record<string, Partial<Record<string, ApiHandler>>> = {
  '/api/publish': {
    POST: async (api, req) => {
      const { channel: name, payload, idempotencyKey } = parse(publishBody, await body(api, req));
      return { offset: await api.operations.publish(name, payload, idempotencyKey === undefined ? {} : { idempotencyKey }) };
    },
  },
  '/api/broadcast': {
    POST: async (api, req) => {
      const { channels, payload } = parse(broadcastBody, await body(api, req));
      return { offsets: await api.operations.broadcast(channels, payload) };
    },
  },
  '/api/disconnect': {
    POST: async (api, req) => {
      const parsed = parse(disconnectBody, await body(api, req));
      return { disconnected: await api.operations.disconnect(targetOf(parsed), parsed.code, parsed.reason) };
    },
  },
  '/api/revoke': {
    POST: async (api, req) => {
      const { user, before, jti, expiresAt } = parse(revokeBody, await body(api, req));
      return { disconnected: await api.operations.revoke(jti !== undefined ? { jti } : { user: user!, before: before! }, expiresAt) };
    },
  },
  '/api/subscribe': {
    POST: async (api, req) => {
      const parsed = parse(controlBody, await body(api, req));
      return { subscribed: await api.operations.subscribe(targetOf(parsed), parsed.channel) };
    },
  },
  '/api/unsubscribe': {
    POST: async (api, req) => {
      const parsed = parse(controlBody, await body(api, req));
      // A channel in no namespace is not_found, as for /api/subscribe, before any node is asked.
      api.operations.checkChannel(parsed.channel);
      return { unsubscribed: await api.operations.unsubscribe(targetOf(parsed), parsed.channel) };
    },
  },
  '/api/presence/update': {
    POST: async (api, req) => {
      const parsed = parse(presenceUpdateBody, await body(api, req));
      return { updated: await api.operations.updatePresence(targetOf(parsed), parsed.channel, parsed.info) };
    },
  },
  '/api/presence': {
    GET: async (api, _req, query) => api.operations.presence(parse(channel, query.get('channel') ?? undefined)),
  },
  '/api/history': {
    GET: async (api, _req, query) => {
      const name = parse(channel, query.get('channel') ?? undefined);
      const rawLimit = query.get('limit');
      const limit = rawLimit === null ? undefined : parse(z.coerce.number().int().positive(), rawLimit);
      const replyLimit = api.config.limits.maxReplyBytes;
      const fits = (result: unknown) => Buffer.byteLength(JSON.stringify(result)) <= replyLimit;
      return api.operations.history(name, limit === undefined ? { fits } : { limit, fits });
    },
  },
  '/api/nodes': {
    GET: async (api) => ({ nodes: await api.operations.nodes() }),
  },
  '/api/stats': {
    GET: async (api) => api.operations.clusterStats(),
  },
  '/api/channels': {
    GET: async (api, _req, query) => ({ channels: await api.operations.busiestChannels(countParam(query, 'top', 10, LEASE_LIST_SIZE)) }),
  },
  '/api/disconnects': {
    GET: async (api, _req, query) => {
      const { disconnectsKept } = api.operations;
      return { disconnects: await api.operations.recentDisconnects(countParam(query, 'limit', disconnectsKept, disconnectsKept)) };
    },
  },
};

/** The user or the client a body names (the schemas let exactly one through). */
function targetOf(body: { user?: string | undefined; client?: string | undefined }): Target {
  return body.client !== undefined ? { client: body.client } : { user: body.user! };
}

/** A positive whole-number query parameter up to `max`, `fallback` when absent. */
function countParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const parsed = z.coerce.number().int().positive().max(max).safeParse(raw);
  if (!parsed.success) throw new SwitchboardError('bad_request', `${name}: a whole number from 1 to ${max}`);
  return parsed.data;
}

/** One of the API's paths (any method): claimed by handleRequest, everything else under /api/ is the app's. */
export function isApiPath(route: string): boolean {
  return Object.hasOwn(ROUTES, route);
}

/**
 * Answers a request to one of the API's paths (isApiPath); a method it lacks
 * is 404. Each call is logged with its method, path (never the query or
 * headers), status and duration.
 */
export async function handleApi(api: ApiContext, req: IncomingMessage, res: ServerResponse, route: string, query: URLSearchParams): Promise<void> {
  const started = performance.now();
  try {
    if (!authorized(req, api.config.apiKey)) {
      const why = api.config.apiKey ? 'a valid "Authorization: apikey <key>" header is required' : 'the HTTP API is off: no API key is configured';
      throw new SwitchboardError('forbidden', why);
    }
    const handler = ROUTES[route]?.[req.method ?? ''];
    if (!handler) throw new SwitchboardError('not_found', `no API route ${req.method} ${route}`);
    sendJson(res, 200, await handler(api, req, query));
  } catch (error) {
    if (error instanceof SwitchboardError) sendError(res, error.code, error.message);
    else {
      api.logger.error({ err: loggable(error), method: req.method, path: route }, 'api call failed');
      sendError(res, 'internal', 'internal error');
    }
  } finally {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    api.logger.info({ method: req.method, path: route, status: res.statusCode, durationMs, ip: req.socket.remoteAddress }, 'api call');
  }
}
