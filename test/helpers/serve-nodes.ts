// `switchboard serve` processes as nodes on one Redis, each on a port of its
// own so that it can be restarted on the same one (behind nginx, for instance:
// test/helpers/nginx.mjs).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type Running } from './cli.js';

/** A config file in a temp folder, for `serve --config`. */
export function configFile(config: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sb-node-')), 'config.json');
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** `switchboard serve --port <port> --redis <redisUrl> --config <config>`, resolved once it listens. */
export async function serveNode(port: number, redisUrl: string, config: string): Promise<Running & { url: string }> {
  const running = run(['serve', '--port', String(port), '--redis', redisUrl, '--config', config]);
  return { ...running, url: await running.listening };
}

/** What a node says about itself in /api/stats (its own figures are live; the other nodes' come from their lease). */
export async function selfStats(nodeUrl: string, apiKey: string): Promise<{ node: string; connections: number }> {
  const res = await fetch(`${nodeUrl}/api/stats`, { headers: { Authorization: `apikey ${apiKey}` } });
  const { nodes } = (await res.json()) as { nodes: Array<{ node: string; address: string; connections: number }> };
  const self = nodes.find((n) => `http://${n.address}` === nodeUrl);
  if (!self) throw new Error(`${nodeUrl} is not in its own /api/stats: ${JSON.stringify(nodes)}`);
  return self;
}
