// The SDK in Chromium behind an nginx that strips `Upgrade` (docs/scaling.md's
// configuration, with `Upgrade` blanked), so the WebSocket fails as it does
// behind such proxies in the field: /client.js falls back to HTTP streaming and
// subscribes, publishes, calls RPC, reads presence and recovers after its node
// restarts. Then the same through two nodes on Redis with nginx's round-robin
// and no affinity: every POST nginx sends to the other node is forwarded.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { launch, requireOrSkip } from '../helpers/browser.js';
import { docsNginxConfig, requireNginx, startNginx, type Nginx } from '../helpers/nginx.mjs';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const nginxBinary = requireNginx();
const run = nginxBinary !== null && requireOrSkip() && (await requireService('Redis', REDIS_URL));
const PREFIX = `fallback-browser-${randomUUID()}`;

/** docs/scaling.md's nginx block for these nodes, with `Upgrade` stripped as a hostile proxy does. */
function strippingConfig(ports: number[], listen: number, accessLog: string): string {
  let text = docsNginxConfig(ports, listen);
  text = text.replace(`listen 127.0.0.1:${listen};`, `listen 127.0.0.1:${listen};\n    access_log ${accessLog} upstreams;`);
  text = `log_format upstreams '$request_method $uri $upstream_addr';\n${text}`;
  expect(text).toContain('proxy_set_header Upgrade $http_upgrade;');
  return text
    .replace('proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header Upgrade "";')
    .replace('proxy_set_header Connection $connection_upgrade;', 'proxy_set_header Connection "";');
}

const namespaces = { '': { history: { size: 1_000, ttl: 300_000 }, presence: true } };
const servers: SwitchboardServer[] = [];
async function node(port: number): Promise<SwitchboardServer> {
  const server = createServer({ logger: pino({ level: 'silent' }), namespaces, broker: new RedisBroker({ url: REDIS_URL, prefix: PREFIX }) });
  server.rpc('whoami', () => server.operations.nodeId);
  servers.push(server);
  await server.listen(port, '127.0.0.1');
  return server;
}

let browser: Browser | undefined;
let nginx: Nginx | null = null;
beforeAll(async () => {
  if (run) browser = await launch();
}, 60_000);
afterEach(async () => {
  await nginx?.stop();
  nginx = null;
  await Promise.all(servers.splice(0).map((server) => server.close()));
});
afterAll(async () => {
  await browser?.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

/** A page of nginx's origin with /client.js connected to ws://nginx/ws, subscribed to `channel`. */
async function page(listen: number, channel: string): Promise<Page> {
  const p = await browser!.newPage();
  await p.goto(`http://127.0.0.1:${listen}/healthz`);
  await p.evaluate(`(async () => {
    const { connect } = await import('/client.js');
    window.got = [];
    window.resets = 0;
    window.transports = [];
    window.client = connect('ws://' + location.host + '/ws', { reconnect: { initialDelay: 50, maxDelay: 300 } });
    window.client.on('transport', (t) => window.transports.push(t));
    window.sub = window.client.subscribe(${JSON.stringify(channel)}, (payload) => window.got.push(payload));
    window.sub.on('reset', () => window.resets++);
    await window.sub.ready;
  })()`);
  return p;
}

describe.runIf(run)('Chromium behind an nginx that strips Upgrade', () => {
  it('falls back to HTTP streaming: subscribe, publish, RPC, presence, and recovery across a node restart', async () => {
    const port = await freePort();
    const listen = await freePort();
    const server = await node(port);
    nginx = await startNginx(nginxBinary!, strippingConfig([port], listen, join(mkdtempSync(join(tmpdir(), 'sb-fallback-')), 'access.log')), listen);
    const p = await page(listen, 'room');
    expect(await p.evaluate('[window.client.transport, window.transports]')).toEqual(['http-stream', ['http-stream']]);
    expect(await p.evaluate(`window.client.publish('room', 'one')`)).toEqual({ offset: 1 });
    await p.waitForFunction(() => (window as any).got.length === 1);
    expect(await p.evaluate(`window.client.rpc('whoami', null)`)).toBe(server.operations.nodeId);
    expect(await p.evaluate(`window.client.presence('room').then((r) => r.clients.length)`)).toBe(1);

    // The node restarts; publications made meanwhile through another node are recovered.
    await server.close();
    const other = await node(await freePort());
    await other.publish('room', 'two');
    await other.publish('room', 'three');
    await node(port);
    await p.waitForFunction(() => (window as any).got.length === 3, undefined, { timeout: 15_000 });
    expect(await p.evaluate('window.got')).toEqual(['one', 'two', 'three']);
    expect(await p.evaluate('window.resets')).toBe(0);
    expect(await p.evaluate('window.transports')).toEqual(['http-stream', 'http-stream']);
  }, 40_000);

  it('works through two nodes with round-robin and no affinity', async () => {
    const ports = [await freePort(), await freePort()];
    const listen = await freePort();
    const [a, b] = [await node(ports[0]!), await node(ports[1]!)];
    const accessLog = join(mkdtempSync(join(tmpdir(), 'sb-fallback-')), 'access.log');
    nginx = await startNginx(nginxBinary!, strippingConfig(ports, listen, accessLog), listen);
    const p = await page(listen, 'shared');
    expect(await p.evaluate('window.client.transport')).toBe('http-stream');
    // Round-robin sends the POSTs to both nodes; each is answered by the stream's node, down the one stream.
    const answered = new Set<string>();
    for (let i = 0; i < 10; i++) answered.add((await p.evaluate(`window.client.rpc('whoami', null)`)) as string);
    expect(answered.size).toBe(1);
    expect([a!.operations.nodeId, b!.operations.nodeId]).toContain([...answered][0]);
    for (let i = 1; i <= 10; i++) expect(await p.evaluate(`window.client.publish('shared', ${i}).then((r) => r.offset)`)).toBe(i);
    await p.waitForFunction(() => (window as any).got.length === 10);
    expect(await p.evaluate('window.got')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await p.evaluate(`window.client.presence('shared').then((r) => r.clients.length)`)).toBe(1);
    const posts = readFileSync(accessLog, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('POST /stream '));
    expect(new Set(posts.map((line) => line.split(' ')[2]))).toEqual(new Set(ports.map((port) => `127.0.0.1:${port}`)));
  }, 40_000);
});
