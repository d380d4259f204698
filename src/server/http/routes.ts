// Switchboard's own plain HTTP requests: health, readiness, metrics, the HTTP
// API, the admin dashboard, the browser client, and a clear answer on the
// WebSocket path without an upgrade. Under `httpPrefix` when set. Anything
// else is not claimed, so an app embedding Switchboard keeps its own routes,
// /api/users included.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Operations } from '../core/index.js';
import type { MetricsView } from '../metrics.js';
import { adminPage } from './admin-page.js';
import type * as Api from './api.js';
import { isBrowserClientPath, serveBrowserClient } from './browser-client.js';
import { demoPage } from './demo-page.js';
import { sendError, sendJson } from './respond.js';
import { BAD_TARGET_MESSAGE, parseTarget } from './target.js';

export interface RouteContext {
  operations: Operations;
  config: Config;
  logger: Logger;
  metrics: MetricsView;
  isReady: () => boolean;
  /**
   * A server Switchboard owns: it serves the demo page at the prefix's `/`
   * and answers an unparsable target itself. An app that attaches keeps both.
   */
  owned: boolean;
}

/** Serve the request if it is one of ours; false when it is not. */
export async function handleRoute(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = parseTarget(requestTarget(req));
  if (!url) {
    if (!ctx.owned) return false;
    sendError(res, 'bad_request', BAD_TARGET_MESSAGE);
    return true;
  }
  const { pathname } = url;
  const { path, httpPrefix } = ctx.config;
  // The WebSocket path is absolute, as upgrades see it: the prefix is for HTTP routes.
  if (pathname === path) {
    sendError(res, 'bad_request', 'this endpoint expects a WebSocket upgrade');
    return true;
  }
  const route = underPrefix(pathname, httpPrefix);
  if (route === null) return false;
  if (ctx.owned && demoPage.has(route)) {
    await demoPage.serve(route, res);
  } else if (route === '/healthz') {
    sendJson(res, 200, { status: 'ok' });
  } else if (route === '/readyz') {
    const ready = ctx.isReady();
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable' });
  } else if (route === '/metrics') {
    const text = await ctx.metrics.metrics();
    res.writeHead(200, { 'Content-Type': ctx.metrics.contentType });
    res.end(text);
  } else if (isBrowserClientPath(route)) {
    await serveBrowserClient(route, res);
  } else if (adminPage.has(route) && ctx.config.apiKey) {
    await adminPage.serve(route, res);
  } else if (route === '/admin/' && ctx.config.apiKey) {
    // The page's files are relative to /admin: send the trailing slash there.
    res.writeHead(308, { Location: `${pathname.slice(0, -1)}${url.search}` });
    res.end();
  } else if ((route === '/admin' || route === '/admin/') && ctx.owned) {
    // Without a key the API answers 403 to everything, so there is no page;
    // say what turns it on, as the API does. An app's own /admin keeps its path.
    sendError(res, 'forbidden', 'the admin dashboard is off: no API key is configured (serve --api-key KEY, or apiKey in the config)');
  } else {
    // Every API path is under /api/; the rest of /api/ is the app's.
    const api = route.startsWith('/api/') ? await loadApi() : null;
    if (!api?.isApiPath(route)) return false;
    await api.handleApi(ctx, req, res, route, url.searchParams);
  }
  return true;
}

// The HTTP API (and its body schemas) is loaded at the first request under /api/.
let apiModule: Promise<typeof Api> | null = null;
const loadApi = () => (apiModule ??= import('./api.js'));

export function notFound(res: ServerResponse): void {
  sendError(res, 'not_found', 'not found');
}

/**
 * The target as the client sent it. Express strips a mount path from req.url
 * (`app.use('/realtime', ...)`) and keeps the original in originalUrl, so
 * `httpPrefix: "/realtime"` matches however the handler is mounted.
 */
export function requestTarget(req: IncomingMessage): string | undefined {
  const original = (req as { originalUrl?: unknown }).originalUrl;
  return typeof original === 'string' ? original : req.url;
}

/** The route below the prefix (`/healthz` for `/realtime/healthz`), or null when the path is not under it. */
function underPrefix(pathname: string, prefix: string): string | null {
  if (prefix === '') return pathname;
  return pathname.startsWith(`${prefix}/`) ? pathname.slice(prefix.length) : null;
}
