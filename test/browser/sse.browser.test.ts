// A plain EventSource in Chromium, no library: it reads the stream, and when
// its server restarts (Redis broker; publications continue through another
// node meanwhile) the browser reconnects by itself with Last-Event-ID and the
// page sees every publication once, in order, with no reset.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisBroker } from '../../src/brokers/redis.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { launch, requireOrSkip } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { REDIS_URL, requireService } from '../helpers/services.js';

const run = requireOrSkip() && (await requireService('Redis', REDIS_URL));
const PREFIX = `sse-browser-${randomUUID()}`;
const servers: SwitchboardServer[] = [];
let browser: Browser | undefined;

async function node(port = 0): Promise<SwitchboardServer> {
  const server = createServer({ logger: pino({ level: 'silent' }), broker: new RedisBroker({ url: REDIS_URL, prefix: PREFIX }) });
  servers.push(server);
  await server.listen(port, '127.0.0.1');
  return server;
}

beforeAll(async () => {
  if (run) browser = await launch();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await Promise.all(servers.map((server) => server.close()));
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

it.runIf(run)(
  'a plain EventSource resumes across a server restart with Last-Event-ID',
  async () => {
    const publisher = await node();
    const port = await freePort();
    const server = await node(port);
    const page: Page = await browser!.newPage();
    await page.goto(`http://127.0.0.1:${port}/healthz`);
    await page.evaluate(`(() => {
    window.got = [];
    window.resets = [];
    window.opens = 0;
    const source = new EventSource('/sse?channel=news&channel=sport');
    source.addEventListener('welcome', () => window.opens++);
    source.addEventListener('message', (e) => {
      const frame = JSON.parse(e.data);
      window.got.push(frame.channel + ':' + frame.payload);
    });
    source.addEventListener('reset', (e) => window.resets.push(JSON.parse(e.data).channel));
  })()`);
    await page.waitForFunction(() => (window as any).opens === 1);
    for (let i = 1; i <= 3; i++) await publisher.publish(i % 2 ? 'news' : 'sport', i);
    await page.waitForFunction(() => (window as any).got.length === 3);

    await server.close();
    for (let i = 4; i <= 6; i++) await publisher.publish(i % 2 ? 'news' : 'sport', i);
    await node(port);
    await page.waitForFunction(() => (window as any).opens === 2, undefined, { timeout: 15_000 });
    await publisher.publish('news', 7);
    await page.waitForFunction(() => (window as any).got.length >= 7);
    const got = (await page.evaluate('window.got')) as string[];
    // In order per channel (a resume replays one channel, then the next), each once.
    expect(got.filter((m) => m.startsWith('news:'))).toEqual(['news:1', 'news:3', 'news:5', 'news:7']);
    expect(got.filter((m) => m.startsWith('sport:'))).toEqual(['sport:2', 'sport:4', 'sport:6']);
    expect(got).toHaveLength(7);
    expect(await page.evaluate('window.resets')).toEqual([]);
  },
  30_000,
);
