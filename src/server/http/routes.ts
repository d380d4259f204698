// Plain HTTP requests on a server Switchboard owns: health, readiness, metrics,
// the HTTP API, and a clear answer on the WebSocket path without an upgrade.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Core } from '../core.js';
import { handleApi } from './api.js';
import { isBrowserClientPath, serveBrowserClient, serveDemoPage } from './browser-client.js';
import { sendError, sendJson } from './respond.js';
import { BAD_TARGET_MESSAGE, parseTarget } from './target.js';

export interface RouteContext {
  core: Core;
  metrics: Registry;
  isReady: () => boolean;
  /** Serve the demo page at /: only on servers Switchboard owns, so an app that attaches keeps its root. */
  demoPage: boolean;
}

/** Serve the request if it is one of ours; false when it is not. */
export async function handleRoute(ctx: RouteContext, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = parseTarget(req.url);
  if (!url) {
    sendError(res, 'bad_request', BAD_TARGET_MESSAGE);
    return true;
  }
  const { pathname } = url;
  if (ctx.demoPage && pathname === '/') {
    await serveDemoPage(res);
  } else if (pathname === '/healthz') {
    sendJson(res, 200, { status: 'ok' });
  } else if (pathname === '/readyz') {
    const ready = ctx.isReady();
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'unavailable' });
  } else if (pathname === '/metrics') {
    const text = await ctx.metrics.metrics();
    res.writeHead(200, { 'Content-Type': ctx.metrics.contentType });
    res.end(text);
  } else if (isBrowserClientPath(pathname)) {
    await serveBrowserClient(pathname, res);
  } else if (pathname.startsWith('/api/')) {
    await handleApi(ctx.core, req, res, url);
  } else if (pathname === ctx.core.config.path) {
    sendError(res, 'bad_request', 'this endpoint expects a WebSocket upgrade');
  } else {
    return false;
  }
  return true;
}

export function notFound(res: ServerResponse): void {
  sendError(res, 'not_found', 'not found');
}
