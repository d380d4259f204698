// The demo page (/) in Chromium against `switchboard serve` with its defaults:
// two tabs see each other in "Here now" and each other's messages; a third
// tab gets the history on load; the page obeys its CSP (no inline code, no
// violation); when the server stops, each tab shows the reconnect with its
// countdown (capped at 2 s), a message sent meanwhile is marked queued, and
// when the server starts again on the same port both tabs come back, the
// queued message is sent, and the page explains that the in-memory broker
// kept nothing (offsets start again at #1). Screenshots in test-results/demo/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launch, requireOrSkip } from '../helpers/browser.js';
import { killChildren, run, type Running } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

const haveChromium = requireOrSkip();
const SHOTS = join(import.meta.dirname, '../../test-results/demo');

describe.runIf(haveChromium)('the demo page in Chromium', () => {
  let browser: Browser;
  const pages: Page[] = [];
  /** Console messages about the Content-Security-Policy, from every page. */
  const violations: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    browser = await launch();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.close()));
    killChildren();
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function serveOn(port: number): Promise<Running & { url: string }> {
    const server = run(['serve', '--port', String(port)]);
    return { ...server, url: await server.listening };
  }

  async function tab(url: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    pages.push(page);
    page.on('console', (message) => /Content.Security.Policy|Refused to/i.test(message.text()) && violations.push(message.text()));
    await page.goto(`${url}/`);
    await page.waitForSelector('#state[data-state="connected"]');
    return page;
  }

  /** The messages a tab shows: offset, who, text, and the tag of one not yet stored. */
  const messages = (page: Page) =>
    page.$$eval('#messages li.message', (items) => items.map((li) => Array.from(li.querySelectorAll('span'), (s) => s.textContent).join('|')));

  it('is served with a strict CSP and has no inline script or style', async () => {
    const port = await freePort();
    const server = await serveOn(port);
    const res = await fetch(`${server.url}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    for (const path of ['/demo/demo.js', '/demo/demo.css']) expect((await fetch(`${server.url}${path}`)).headers.get('content-security-policy')).toBe(csp);
  });

  it('shows who is here, messages between tabs, history on load, and a restart: countdown, queued message, recovery', async () => {
    const port = await freePort();
    const server = await serveOn(port);
    const a = await tab(server.url);
    const b = await tab(server.url);

    // Presence: each tab sees both, itself marked.
    for (const page of [a, b]) await page.waitForSelector('#here-count:text-is("(2)")');
    expect(await a.locator('#here li').allTextContents()).toEqual([expect.stringMatching(/^guest-\w{4} \(you\)$/), expect.stringMatching(/^guest-\w{4}$/)]);

    // A message from A reaches B, with its offset and its sender.
    await a.fill('#text', 'hello from A');
    await a.press('#text', 'Enter');
    await b.waitForSelector('#messages li.message:has-text("hello from A")');
    const [fromA] = await messages(b);
    expect(fromA).toMatch(/^#1\|guest-\w{4}\|hello from A$/);
    await a.waitForSelector('#messages li.message:not(.pending):has-text("hello from A")');
    expect(await messages(a)).toEqual(['#1|you|hello from A']);

    // History on load: a third tab sees it, and the others see it join and leave.
    const c = await tab(server.url);
    await c.waitForSelector('#messages li.message:has-text("hello from A")');
    expect(await messages(c)).toEqual([fromA]);
    await a.waitForSelector('#here-count:text-is("(3)")');
    await c.close();
    await a.waitForSelector('#here-count:text-is("(2)")');
    await a.screenshot({ path: join(SHOTS, 'chat.png'), fullPage: true });

    // Stop the server: both tabs count down to their next attempt, never more than the page's 2 s cap.
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    for (const page of [a, b]) {
      // Read in one go: the state moves on to the next attempt within 2 s.
      const seen = await page.waitForFunction(() => {
        const pill = document.getElementById('state')!;
        if (pill.dataset.state !== 'disconnected') return null;
        return { text: document.getElementById('state-text')!.textContent, retry: !document.getElementById('retry')!.hidden };
      });
      const { text, retry } = (await seen.jsonValue())!;
      expect(text).toMatch(/^connection lost( \(\d+\))?: reconnecting in \d\.\d s, attempt \d+$/);
      expect(Number(/in (\d\.\d) s/.exec(text ?? '')![1])).toBeLessThanOrEqual(2);
      expect(retry).toBe(true);
    }
    // A message sent meanwhile is kept and marked queued.
    await a.fill('#text', 'sent while away');
    await a.press('#text', 'Enter');
    await a.waitForSelector('#messages li.pending:has-text("sent while away") .tag.queued');
    await a.screenshot({ path: join(SHOTS, 'reconnecting.png'), fullPage: true });

    // Start it again on the same port: both come back; the queued message is stored as #1 of the new history,
    // and the page says why the history started again, as an expected state.
    await serveOn(port); // stopped by killChildren after the test
    for (const page of [a, b]) {
      await page.waitForSelector('#state[data-state="connected"]', { timeout: 15_000 });
      await page.waitForSelector('#messages li.notice:has-text("in-memory broker keeps nothing across a restart")');
    }
    await b.waitForSelector('#messages li.message:has-text("sent while away")');
    expect((await messages(b)).at(-1)).toMatch(/^#1\|guest-\w{4}\|sent while away$/);
    await a.waitForSelector('#messages li.message:not(.pending):has-text("sent while away")');
    expect((await messages(a)).at(-1)).toBe('#1|you|sent while away');
    for (const page of [a, b]) await page.waitForSelector('#here-count:text-is("(2)")');
    await a.screenshot({ path: join(SHOTS, 'after-restart.png'), fullPage: true });
    expect(violations).toEqual([]);
  }, 60_000);
});
