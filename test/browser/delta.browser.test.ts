// Fossil deltas in a real browser: /client.js with /client-delta.js in
// Chromium receives deltas of a document with non-ASCII text, on JSON and on
// MessagePack, and hands the page whole payloads equal to what was published.
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { launch, requireOrSkip } from '../helpers/browser.js';

const run = requireOrSkip();

/** A document with text beyond ASCII, whose `tick` changes. */
const documentAt = (tick: number) => ({
  tick,
  title: 'Tabelle – Spielstand 🏆',
  rows: Array.from({ length: 40 }, (_, i) => ({ name: `Spieler ${i} é`, score: i * 3 })),
});

describe.runIf(run)('deltas in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let server: SwitchboardServer;

  beforeAll(async () => {
    server = createServer({ logger: pino({ level: 'silent' }), namespaces: { doc: { delta: 'fossil' }, '': {} } });
    const { url } = await server.listen(0, '127.0.0.1');
    browser = await launch();
    page = await browser.newPage();
    await page.goto(`${url}/healthz`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const codec of ['json', 'msgpack']) {
    it(`applies deltas on ${codec}`, async () => {
      const channel = `doc:${codec}`;
      await page.evaluate(`(async () => {
        const { connect } = await import('/client.js');
        const { fossil } = await import('/client-delta.js');
        const codec = '${codec}' === 'msgpack' ? (await import('/client-msgpack.js')).msgpack : undefined;
        window.got = [];
        window.deltas = 0;
        // The browser's WebSocket, counting the delta frames that arrive.
        class Counting extends WebSocket {
          constructor(url, protocols) {
            super(url, protocols);
            this.addEventListener('message', ({ data }) => {
              const frame = typeof data === 'string' ? JSON.parse(data) : codec.decode(new Uint8Array(data));
              if (frame.delta === true) window.deltas++;
            });
          }
        }
        window.client = connect('ws://' + location.host + '/ws', { delta: fossil, WebSocket: Counting, ...(codec ? { codec } : {}) });
        await window.client.subscribe('${channel}', (payload, message) => window.got.push(payload), { delta: 'fossil' }).ready;
      })()`);
      for (let tick = 1; tick <= 4; tick++) await server.publish(channel, documentAt(tick));
      await page.waitForFunction(() => (window as any).got.length === 4);
      expect(await page.evaluate(() => (window as any).got)).toEqual([1, 2, 3, 4].map(documentAt));
      // Deltas did travel: every publication after the first.
      expect(await page.evaluate(() => (window as any).deltas)).toBe(3);
      await page.evaluate(() => (window as any).client.close());
    });
  }
});
