// The admin dashboard's static files (web/admin/), at /admin under httpPrefix,
// on servers Switchboard owns and through handleRequest alike, when an API key
// is configured. The files are public: every figure they show comes from the
// HTTP API, which needs the key.
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

const ADMIN_DIR = new URL('../../../web/admin/', import.meta.url);
const FILES: Record<string, { file: string; type: string }> = {
  '/admin': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/admin/admin.js': { file: 'admin.js', type: 'text/javascript; charset=utf-8' },
  '/admin/admin.css': { file: 'admin.css', type: 'text/css; charset=utf-8' },
};

export function isAdminPath(route: string): boolean {
  return Object.hasOwn(FILES, route);
}

export async function serveAdmin(route: string, res: ServerResponse): Promise<void> {
  const { file, type } = FILES[route]!;
  const body = await readFile(new URL(file, ADMIN_DIR));
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    // The page holds the API key: no script but its own, talking only to this origin, never in a frame.
    'Content-Security-Policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}
