// The HTTP API of docs/protocol.md, section 7, for server-side callers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isValidChannelName } from '../../protocol/channels.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import type { Core } from '../core.js';
import { readJson, sendError, sendJson } from './respond.js';

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

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new SwitchboardError('bad_request', `${issue.path.join('.') || 'body'}: ${issue.message}`);
}

function authorized(req: IncomingMessage, apiKey: string | null): boolean {
  if (!apiKey) return false;
  const match = /^apikey\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(apiKey);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Handles /api/*; answers 404 for unknown paths under it. */
export async function handleApi(core: Core, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    if (!authorized(req, core.config.apiKey)) {
      const why = core.config.apiKey ? 'a valid "Authorization: apikey <key>" header is required' : 'the HTTP API is off: no API key is configured';
      throw new SwitchboardError('forbidden', why);
    }
    const route = `${req.method} ${url.pathname}`;
    const limit = core.config.limits.maxPayload;
    const replyLimit = core.config.limits.maxReplyBytes;
    switch (route) {
      case 'POST /api/publish': {
        const body = parse(publishBody, await readJson(req, limit));
        const namespace = core.namespaces.resolve(body.channel);
        const options = body.idempotencyKey === undefined ? {} : { idempotencyKey: body.idempotencyKey };
        sendJson(res, 200, { offset: await core.hub.publish(body.channel, body.payload, undefined, namespace, options) });
        return;
      }
      case 'POST /api/broadcast': {
        const body = parse(broadcastBody, await readJson(req, limit));
        const namespaces = body.channels.map((c) => core.namespaces.resolve(c));
        const offsets: Record<string, number | null> = {};
        await Promise.all(
          body.channels.map(async (c, i) => {
            offsets[c] = await core.hub.publish(c, body.payload, undefined, namespaces[i]!);
          }),
        );
        sendJson(res, 200, { offsets });
        return;
      }
      case 'POST /api/disconnect': {
        const body = parse(disconnectBody, await readJson(req, limit));
        const match = body.client !== undefined ? { client: body.client } : { user: body.user! };
        sendJson(res, 200, { disconnected: core.disconnect(match, body.code, body.reason) });
        return;
      }
      case 'GET /api/presence': {
        const name = parse(channel, url.searchParams.get('channel') ?? undefined);
        sendJson(res, 200, await core.hub.presence(name, core.namespaces.resolve(name)));
        return;
      }
      case 'GET /api/history': {
        const name = parse(channel, url.searchParams.get('channel') ?? undefined);
        const rawLimit = url.searchParams.get('limit');
        const limitN = rawLimit === null ? 100 : parse(z.coerce.number().int().positive(), rawLimit);
        const fits = (result: unknown) => Buffer.byteLength(JSON.stringify(result)) <= replyLimit;
        sendJson(res, 200, await core.hub.history(name, core.namespaces.resolve(name), limitN, undefined, fits));
        return;
      }
      case 'GET /api/stats':
        sendJson(res, 200, { nodes: [nodeStats(core)] });
        return;
      default:
        throw new SwitchboardError('not_found', `no API route ${route}`);
    }
  } catch (error) {
    if (error instanceof SwitchboardError) sendError(res, error.code, error.message);
    else sendError(res, 'internal', 'internal error');
  }
}

export function nodeStats(core: Core) {
  return {
    node: core.nodeId,
    broker: core.broker.name,
    connections: core.sessions.size,
    channels: core.hub.localChannelCount(),
    messages: {
      received: core.counters.received,
      publications: core.hub.stats.publications,
      delivered: core.hub.stats.delivered,
    },
    /** Per second, over the last 10 seconds. */
    rates: core.rates.rates(),
    uptime: Math.round(process.uptime()),
  };
}
