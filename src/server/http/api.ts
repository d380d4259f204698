// The HTTP API of docs/protocol.md, "HTTP API", for server-side callers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { isValidChannelName } from '../../protocol/channels.js';
import { CloseCode, SwitchboardError } from '../../protocol/codes.js';
import type { Core } from '../core/core.js';
import { loggable } from '../logger.js';
import { readJson, sendError, sendJson } from './respond.js';
import type { NodeRecord } from '../../brokers/broker.js';
import { LEASE_LIST_SIZE } from '../core/core.js';
import type { DisconnectRecord } from '../core/recent-disconnects.js';

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

type ApiHandler = (core: Core, req: IncomingMessage, query: URLSearchParams) => Promise<unknown>;

/** Every API route, by path then method; the paths are all handleRequest claims under /api/. */
const ROUTES: Record<string, Partial<Record<string, ApiHandler>>> = {
  '/api/publish': {
    POST: async (core, req) => {
      const body = parse(publishBody, await readJson(req, core.config.limits.maxPayload));
      const options = body.idempotencyKey === undefined ? {} : { idempotencyKey: body.idempotencyKey };
      return { offset: await core.publish(body.channel, body.payload, options) };
    },
  },
  '/api/broadcast': {
    POST: async (core, req) => {
      const body = parse(broadcastBody, await readJson(req, core.config.limits.maxPayload));
      // Every channel is checked before anything is published.
      for (const c of body.channels) core.namespaces.resolve(c);
      const offsets: Record<string, number | null> = {};
      await Promise.all(
        body.channels.map(async (c) => {
          offsets[c] = await core.publish(c, body.payload);
        }),
      );
      return { offsets };
    },
  },
  '/api/disconnect': {
    POST: async (core, req) => {
      const body = parse(disconnectBody, await readJson(req, core.config.limits.maxPayload));
      const match = body.client !== undefined ? { client: body.client } : { user: body.user! };
      return { disconnected: await core.control.send({ op: 'disconnect', target: match, code: body.code, reason: body.reason }) };
    },
  },
  '/api/subscribe': {
    POST: async (core, req) => ({ subscribed: await control(core, req, 'subscribe') }),
  },
  '/api/unsubscribe': {
    POST: async (core, req) => ({ unsubscribed: await control(core, req, 'unsubscribe') }),
  },
  '/api/presence': {
    GET: async (core, _req, query) => {
      const name = parse(channel, query.get('channel') ?? undefined);
      return core.hub.presence(name, core.namespaces.resolve(name));
    },
  },
  '/api/history': {
    GET: async (core, _req, query) => {
      const name = parse(channel, query.get('channel') ?? undefined);
      const rawLimit = query.get('limit');
      const limit = rawLimit === null ? 100 : parse(z.coerce.number().int().positive(), rawLimit);
      const replyLimit = core.config.limits.maxReplyBytes;
      const fits = (result: unknown) => Buffer.byteLength(JSON.stringify(result)) <= replyLimit;
      return core.hub.history(name, core.namespaces.resolve(name), limit, undefined, fits);
    },
  },
  '/api/nodes': {
    GET: async (core) => ({ nodes: await liveNodes(core) }),
  },
  '/api/stats': {
    GET: async (core) => clusterStats(await liveNodes(core)),
  },
  '/api/channels': {
    GET: async (core, _req, query) => {
      const top = countParam(query, 'top', 10, LEASE_LIST_SIZE);
      return { channels: busiestChannels(core, await liveNodes(core), top) };
    },
  },
  '/api/disconnects': {
    GET: async (core, _req, query) => {
      const limit = countParam(query, 'limit', 100, core.recentDisconnects.capacity);
      return { disconnects: recentDisconnects(core, await liveNodes(core), limit) };
    },
  },
};

/** A positive whole-number query parameter up to `max`, `fallback` when absent. */
function countParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  const parsed = z.coerce.number().int().positive().max(max).safeParse(raw);
  if (!parsed.success) throw new SwitchboardError('bad_request', `${name}: a whole number from 1 to ${max}`);
  return parsed.data;
}

interface ChannelCount {
  channel: string;
  subscribers: number;
}

/**
 * The busiest channels of the cluster: each node's busiest (this node's live,
 * the others' from their lease), added up by channel. A channel outside a
 * node's own top LEASE_LIST_SIZE is not counted there, so the figures are a
 * floor for channels low on the list (docs/protocol.md, "The admin view").
 */
function busiestChannels(core: Core, nodes: NodeRecord[], top: number): Array<ChannelCount & { local: number }> {
  const local = new Map(core.hub.busiestChannels(LEASE_LIST_SIZE).map((c) => [c.channel, c.subscribers]));
  const totals = new Map(local);
  for (const node of nodes) {
    if (node.node === core.nodeId) continue;
    for (const c of (node.busiest as ChannelCount[] | undefined) ?? []) totals.set(c.channel, (totals.get(c.channel) ?? 0) + c.subscribers);
  }
  return [...totals]
    .map(([channel, subscribers]) => ({ channel, subscribers, local: local.get(channel) ?? 0 }))
    .sort((a, b) => b.subscribers - a.subscribers || a.channel.localeCompare(b.channel))
    .slice(0, top);
}

/** This node's last disconnects and the newest of each other node (from its lease), newest first. */
function recentDisconnects(core: Core, nodes: NodeRecord[], limit: number): DisconnectRecord[] {
  const all = core.recentDisconnects.newest();
  for (const node of nodes) {
    if (node.node !== core.nodeId) all.push(...((node.disconnects as DisconnectRecord[] | undefined) ?? []));
  }
  return all.sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit);
}

/** A server-side subscribe or unsubscribe, on every node; how many connections it reached. */
async function control(core: Core, req: IncomingMessage, op: 'subscribe' | 'unsubscribe'): Promise<number> {
  const body = parse(controlBody, await readJson(req, core.config.limits.maxPayload));
  const target = body.client !== undefined ? { client: body.client } : { user: body.user! };
  core.namespaces.resolve(body.channel);
  return core.control.send({ op, target, channel: body.channel });
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
export async function handleApi(core: Core, req: IncomingMessage, res: ServerResponse, route: string, query: URLSearchParams): Promise<void> {
  const started = performance.now();
  try {
    if (!authorized(req, core.config.apiKey)) {
      const why = core.config.apiKey ? 'a valid "Authorization: apikey <key>" header is required' : 'the HTTP API is off: no API key is configured';
      throw new SwitchboardError('forbidden', why);
    }
    const handler = ROUTES[route]?.[req.method ?? ''];
    if (!handler) throw new SwitchboardError('not_found', `no API route ${req.method} ${route}`);
    sendJson(res, 200, await handler(core, req, query));
  } catch (error) {
    if (error instanceof SwitchboardError) sendError(res, error.code, error.message);
    else {
      core.logger.error({ err: loggable(error), method: req.method, path: route }, 'api call failed');
      sendError(res, 'internal', 'internal error');
    }
  } finally {
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    core.logger.info({ method: req.method, path: route, status: res.statusCode, durationMs, ip: req.socket.remoteAddress }, 'api call');
  }
}

/**
 * The nodes with a live lease, this one with its figures as of now, the others
 * as of their last renewal (every nodeTtl / 4), oldest first.
 */
async function liveNodes(core: Core): Promise<NodeRecord[]> {
  const others = (await core.broker.nodes()).filter((record) => record.node !== core.nodeId);
  const nodes = [core.nodeRecord(), ...others];
  return nodes.sort((a, b) => String(a.startedAt).localeCompare(String(b.startedAt)));
}

/** Cluster totals (sums over the live nodes) and each node's figures. */
function clusterStats(nodes: NodeRecord[]) {
  const sum = (read: (node: NodeRecord) => unknown) => nodes.reduce((total, node) => total + (Number(read(node)) || 0), 0);
  const sums = (field: 'messages' | 'rates') => {
    const keys = new Set(nodes.flatMap((node) => Object.keys((node[field] as Record<string, number> | undefined) ?? {})));
    return Object.fromEntries(
      [...keys].map((key) => [key, Math.round(sum((node) => (node[field] as Record<string, number> | undefined)?.[key]) * 10) / 10]),
    );
  };
  return {
    totals: {
      nodes: nodes.length,
      connections: sum((node) => node.connections),
      subscriptions: sum((node) => node.subscriptions),
      messages: sums('messages'),
      rates: sums('rates'),
    },
    nodes,
  };
}
