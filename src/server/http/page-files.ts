// The static files of Switchboard's own pages (the demo at /, the admin
// dashboard at /admin), each served with a Content-Security-Policy that allows
// only the page's own script and style and requests to its own origin
// (WebSockets to this host included, as CSP Level 3 reads 'self'): no inline
// code, no other origin, never in a frame.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

export interface PageFile {
  file: string;
  type: string;
}

export const HTML = 'text/html; charset=utf-8';
export const JS = 'text/javascript; charset=utf-8';
export const CSS = 'text/css; charset=utf-8';

const POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** A page's routes (relative to httpPrefix) and the files under `dir` they serve. */
export interface Page {
  has(route: string): boolean;
  serve(route: string, res: ServerResponse): Promise<void>;
}

export function page(dir: URL, files: Record<string, PageFile>): Page {
  return {
    has: (route) => Object.hasOwn(files, route),
    serve: (route, res) => servePageFile(dir, files[route]!, res),
  };
}

async function servePageFile(dir: URL, { file, type }: PageFile, res: ServerResponse): Promise<void> {
  const body = await readFile(new URL(file, dir));
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Content-Security-Policy': POLICY,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}
