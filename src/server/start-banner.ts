// What `serve` prints on stdout once it accepts connections (one process or
// the primary of --workers): the listening line scripts wait for, then where
// the demo page and, when an API key turns it on, the admin dashboard are.
import type { Config } from './config.js';

export function startBanner(url: string, config: Pick<Config, 'httpPrefix' | 'apiKey'>): string {
  const base = `${url}${config.httpPrefix}`;
  const lines = [`switchboard listening on ${url}`, `  demo page  ${base}/`];
  if (config.apiKey) lines.push(`  admin      ${base}/admin (sign in with the API key)`);
  return `${lines.join('\n')}\n`;
}
