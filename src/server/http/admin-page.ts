// The admin dashboard's static files (web/admin/), at /admin under httpPrefix,
// on servers Switchboard owns and through handleRequest alike, when an API key
// is configured. The files are public: every figure they show comes from the
// HTTP API, which needs the key. The page holds the key: page-files.ts keeps it
// to its own script and origin, never in a frame.
import { CSS, HTML, JS, page } from './page-files.js';

export const adminPage = page(new URL('../../../web/admin/', import.meta.url), {
  '/admin': { file: 'index.html', type: HTML },
  '/admin/admin.js': { file: 'admin.js', type: JS },
  '/admin/admin.css': { file: 'admin.css', type: CSS },
});
