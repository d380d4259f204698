// The admin dashboard (/admin) in Chromium: it asks for the API key and keeps
// it out of every URL; its connection count moves when a page connects; a
// publish from its form reaches a subscriber; its disconnect form closes a
// user's connection with 4003, which then shows in recent disconnects; the
// busiest channels lead to a channel's presence; and it fits a phone's width.
// Each test leaves a screenshot in test-results/admin/ (gitignored).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SwitchboardClient } from '../../src/client/client.js';
import { connect } from '../../src/client/node.js';
import { launch, requireOrSkip } from '../helpers/browser.js';
import { RawClient } from '../helpers/raw-client.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SECRET, sign } from '../helpers/tokens.js';

const run = requireOrSkip();
const API_KEY = 'admin-key-not-for-urls';
const SHOTS = join(import.meta.dirname, '../../test-results/admin');

describe.runIf(run)('the admin dashboard in Chromium', () => {
  let browser: Browser;
  let server: TestServer;
  const pages: Page[] = [];
  const clients: Array<SwitchboardClient | RawClient> = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    server = await startServer({
      apiKey: API_KEY,
      jwtSecret: SECRET,
      namespaces: { '': { subscribe: 'anyone', publish: 'anyone' }, room: { presence: true } },
    });
    browser = await launch();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.close()));
    await Promise.all(clients.splice(0).map(async (c) => c.close()));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** The dashboard, signed in with the key typed into its form; every request it makes is recorded. */
  async function dashboard(viewport = { width: 1280, height: 900 }) {
    const page = await browser.newPage({ viewport });
    pages.push(page);
    const requests: Array<{ url: string; authorization: string | undefined }> = [];
    page.on('request', (req) => requests.push({ url: req.url(), authorization: req.headers()['authorization'] }));
    await page.goto(`${server.url}/admin`);
    await page.fill('#key', API_KEY);
    await page.click('#key-form button');
    await page.waitForSelector('#status[data-state="live"]');
    expect(await page.isVisible('#key-form')).toBe(false);
    return { page, requests };
  }

  const text = (page: Page, selector: string) => page.textContent(selector).then((t) => t?.trim());

  it('shows only the key form before a key is given', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    pages.push(page);
    await page.goto(`${server.url}/admin`);
    expect(await page.isVisible('#key-form')).toBe(true);
    expect(await page.isVisible('#board')).toBe(false);
    await page.screenshot({ path: join(SHOTS, 'sign-in.png') });
  });

  it('asks for the key, sends it only in the Authorization header, and counts a page that connects', async () => {
    const { page, requests } = await dashboard();
    expect(await text(page, '#t-connections')).toBe('0');
    expect(await text(page, '#t-nodes')).toBe('1');

    // Another page connects with /client.js: the count goes to 1 on a later poll.
    const visitor = await browser.newPage();
    pages.push(visitor);
    await visitor.goto(`${server.url}/healthz`);
    await visitor.evaluate(`(async () => {
      const { connect } = await import('/client.js');
      window.client = connect('ws://' + location.host + '/ws');
      await new Promise((resolve) => window.client.on('connected', resolve));
    })()`);
    await page.waitForFunction(() => document.getElementById('t-connections')!.textContent === '1', null, { timeout: 10_000 });
    await page.waitForSelector('#nodes tbody tr td:nth-child(4):text-is("1")');
    // The connections chart has drawn its line, between labelled axes: time, and the unit with its scale.
    expect(await page.locator('#chart-connections polyline').count()).toBe(1);
    expect(await page.locator('.plot .y-title').allTextContents()).toEqual(['connections', 'messages/s']);
    expect(await page.locator('.plot .x-title').allTextContents()).toEqual(['time', 'time']);
    expect(await page.locator('.plot').first().locator('.x-ticks span').allTextContents()).toEqual(['3 min ago', '2 min', '1 min', 'now']);
    await page.waitForFunction(() => document.getElementById('chart-connections-max')!.textContent === '1');
    expect(await text(page, '#chart-connections-mid')).toBe('0.5');
    await page.screenshot({ path: join(SHOTS, 'connections.png'), fullPage: true });

    const apiCalls = requests.filter((r) => r.url.includes('/api/'));
    expect(apiCalls.length).toBeGreaterThan(0);
    for (const call of requests) expect(call.url).not.toContain(API_KEY);
    for (const call of apiCalls) expect(call.authorization).toBe(`apikey ${API_KEY}`);
    // The page is public; its data is not.
    expect((await fetch(`${server.url}/api/stats`)).status).toBe(403);
  });

  it('publishes from its form to a subscriber', async () => {
    const subscriber = connect(server.wsUrl);
    clients.push(subscriber);
    let answer!: (payload: unknown) => void;
    const got = new Promise<unknown>((resolve) => (answer = resolve));
    await subscriber.subscribe('news', (payload) => answer(payload)).ready;
    const { page } = await dashboard();
    await page.fill('#publish-channel', 'news');
    await page.fill('#publish-payload', '{"headline":"from the dashboard"}');
    await page.click('#publish-form button');
    expect(await got).toEqual({ headline: 'from the dashboard' });
    await page.waitForSelector('#publish-result:has-text("published")');
    await page.screenshot({ path: join(SHOTS, 'publish.png'), fullPage: true });
  });

  it("closes a user's connection with 4003 from its disconnect form, and lists it in recent disconnects", async () => {
    const alice = await RawClient.connect(server.wsUrl, { headers: { Authorization: `Bearer ${await sign({ sub: 'alice' })}` } });
    clients.push(alice);
    const bob = await RawClient.connect(server.wsUrl, { headers: { Authorization: `Bearer ${await sign({ sub: 'bob' })}` } });
    clients.push(bob);
    const { page } = await dashboard();
    await page.fill('#disconnect-user', 'alice');
    await page.fill('#disconnect-reason', 'asked to leave');
    await page.click('#disconnect-form button');
    expect(await alice.closed).toEqual({ code: 4003, reason: 'asked to leave' });
    await page.waitForSelector('#disconnect-result:has-text("1 connection closed with 4003")');
    // The next poll lists it: user, code and reason.
    const row = page.locator('#disconnects tbody tr', { hasText: 'alice' });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.textContent()).toContain('4003');
    expect(await row.textContent()).toContain('asked to leave');
    expect(bob.frames.length).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'disconnect.png'), fullPage: true });
  });

  it('shows the busiest channels and, on a phone, the presence of one without overflowing sideways', async () => {
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.connect(server.wsUrl, { headers: { Authorization: `Bearer ${await sign({ sub: `user-${i}` })}` } });
      clients.push(c);
      await c.ok({ type: 'subscribe', channel: 'room:busy' });
      if (i === 0) await c.ok({ type: 'subscribe', channel: 'room:quiet' });
    }
    const { page } = await dashboard({ width: 390, height: 844 });
    const first = page.locator('#channels tbody tr').first();
    await page.waitForSelector('#channels tbody tr:has-text("room:quiet")', { timeout: 10_000 });
    expect((await first.textContent())?.replace(/\s+/g, ' ')).toBe('room:busy33');
    await first.locator('td').first().click();
    await page.waitForSelector('#presence-result:has-text("3 present in room:busy")');
    expect(await page.locator('#presence li').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringMatching(/^user-0 · /), expect.stringMatching(/^user-2 · /)]),
    );
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
  });
});
