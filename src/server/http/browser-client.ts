// Serves the browser builds of the client as ES modules, /client.js,
// /client-msgpack.js and /client-delta.js (made by `npm run build` into dist/browser).
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { sendError } from './respond.js';

// Three levels up from src/server/http or dist/server/http is the package root.
const BUILD_DIR = new URL('../../../dist/browser/', import.meta.url);
const FILES: Record<string, string> = { '/client.js': 'client.js', '/client-msgpack.js': 'client-msgpack.js', '/client-delta.js': 'client-delta.js' };
const cache = new Map<string, Buffer>();

export function isBrowserClientPath(pathname: string): boolean {
  return Object.hasOwn(FILES, pathname);
}

export async function serveBrowserClient(pathname: string, res: ServerResponse): Promise<void> {
  let body = cache.get(pathname);
  if (!body) {
    try {
      body = await readFile(new URL(FILES[pathname]!, BUILD_DIR));
    } catch {
      sendError(res, 'not_found', 'the browser client is not built; run npm run build');
      return;
    }
    cache.set(pathname, body);
  }
  res.writeHead(200, {
    'Content-Type': 'text/javascript; charset=utf-8',
    'Content-Length': body.length,
    // A public library file: any page may import it.
    'Access-Control-Allow-Origin': '*',
    'Cache-Control': 'public, max-age=300',
  });
  res.end(body);
}
