// The browser build in a real browser: /client.js imported by a page in
// Chromium connects, subscribes, receives a publication made by a Node client,
// survives a server restart and receives again; binary payloads cross between
// the browser and Node over switchboard.v1.msgpack. The browser's token
// travels in Sec-WebSocket-Protocol, in no URL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/node.js';
import { msgpack } from '../../src/client/msgpack.js';
import { createServer, type SwitchboardServer } from '../../src/server/index.js';
import { launch, requireOrSkip } from '../helpers/browser.js';
import { freePort } from '../helpers/ports.js';
import { SECRET, sign } from '../helpers/tokens.js';

const run = requireOrSkip();

describe.runIf(run)('in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let port: number;
  let server: SwitchboardServer;

  async function startOn(p: number): Promise<SwitchboardServer> {
    const s = createServer({ logger: pino({ level: 'silent' }) });
    await s.listen(p, '127.0.0.1');
    return s;
  }

  beforeAll(async () => {
    port = await freePort();
    server = await startOn(port);
    browser = await launch();
    page = await browser.newPage();
    // A page of the server's own origin, which the default origin check admits.
    await page.goto(`http://127.0.0.1:${port}/healthz`);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('imports /client.js, receives, survives a restart and receives again', async () => {
    // Page code is a string so that it reaches the browser untransformed by the test runner.
    await page.evaluate(`(async () => {
      const { connect } = await import('/client.js');
      window.got = [];
      window.resets = 0;
      window.connections = 0;
      window.client = connect('ws://' + location.host + '/ws', { reconnect: { initialDelay: 50, maxDelay: 200 } });
      window.client.on('connected', () => window.connections++);
      const sub = window.client.subscribe('news', (payload) => window.got.push(payload));
      sub.on('reset', () => window.resets++);
      await sub.ready;
    })()`);
    const node = connect(`ws://127.0.0.1:${port}/ws`);
    await node.publish('news', { headline: 'from node' });
    await page.waitForFunction(() => (window as any).got.length === 1);
    node.close();

    await server.close();
    server = await startOn(port);
    // The browser client comes back by itself, and learns the history was lost.
    await page.waitForFunction(() => (window as any).connections === 2 && (window as any).resets === 1);
    const again = connect(`ws://127.0.0.1:${port}/ws`);
    await again.publish('news', { headline: 'after the restart' });
    await page.waitForFunction(() => (window as any).got.length === 2);
    expect(await page.evaluate(() => (window as any).got)).toEqual([{ headline: 'from node' }, { headline: 'after the restart' }]);
    again.close();
    await page.evaluate(() => (window as any).client.close());
  });

  it('reconnects at once on the online event instead of waiting out its backoff', async () => {
    await page.evaluate(`(async () => {
      const { connect } = await import('/client.js');
      // Pin the jitter: the first retry would wait 59.4 s.
      window.realRandom = Math.random;
      Math.random = () => 0.99;
      window.patient = connect('ws://' + location.host + '/ws', { reconnect: { initialDelay: 60000, maxDelay: 60000 } });
      window.patientConnections = 0;
      window.patient.on('connected', () => window.patientConnections++);
      window.patient.on('disconnected', (change) => (window.announcedDelay = change.delay));
      await new Promise((resolve) => window.patient.on('connected', resolve));
    })()`);
    await server.close();
    server = await startOn(port);
    await page.waitForFunction(() => (window as any).announcedDelay !== undefined);
    expect(await page.evaluate(() => (window as any).announcedDelay)).toBeGreaterThan(50_000);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await page.waitForFunction(() => (window as any).patientConnections === 2);
    await page.evaluate(() => {
      Math.random = (window as any).realRandom;
      (window as any).patient.close();
    });
  });

  it('serves a demo page at / that publishes and shows a live channel', async () => {
    const demo = await browser.newPage();
    await demo.goto(`http://127.0.0.1:${port}/?channel=demo-test`);
    await demo.waitForSelector('#state[data-state="connected"]');
    await demo.fill('#text', 'typed in the demo');
    await demo.click('#send button');
    await demo.waitForSelector('li.message:not(.pending):has-text("typed in the demo")');
    const node = connect(`ws://127.0.0.1:${port}/ws`);
    await node.publish('demo-test', { text: 'from node' });
    await demo.waitForSelector('li:has-text("from node")');
    expect(await demo.textContent('#messages li.message:last-child')).toMatch(/^#2guest-\w{4}from node$/);
    // This channel's namespace has no presence: the page says so instead of an empty list.
    expect(await demo.textContent('#here-note')).toMatch(/^Presence is off for this channel/);
    node.close();
    await demo.close();
  });

  it('round-trips a Float64Array and raw bytes between the browser and Node over MessagePack', async () => {
    const node = connect(`ws://127.0.0.1:${port}/ws`, { codec: msgpack });
    let answer!: (payload: any) => void;
    const fromBrowser = new Promise<any>((resolve) => (answer = resolve));
    await node.subscribe('to-node', (payload) => answer(payload)).ready;

    await page.evaluate(`(async () => {
      const { connect } = await import('/client.js');
      const { msgpack } = await import('/client-msgpack.js');
      window.bin = connect('ws://' + location.host + '/ws', { codec: msgpack });
      await window.bin.subscribe('to-browser', async (payload) => {
        // Echo back what arrived, plus the browser's own Float64Array.
        const f64 = new Float64Array(payload.f64.slice().buffer);
        const own = new Float64Array([f64[0] * 2, Math.E]);
        await window.bin.publish('to-node', { f64: new Uint8Array(own.buffer), raw: payload.raw, isBytes: payload.raw instanceof Uint8Array });
      }).ready;
    })()`);

    const samples = new Float64Array([Math.PI, -1.5e-300]);
    const raw = new Uint8Array([0, 1, 127, 128, 254, 255]);
    await node.publish('to-browser', { f64: new Uint8Array(samples.buffer), raw });
    const payload = await fromBrowser;
    expect(payload.isBytes).toBe(true);
    expect([...payload.raw]).toEqual([...raw]);
    expect([...new Float64Array(payload.f64.slice().buffer)]).toEqual([Math.PI * 2, Math.E]);
    node.close();
    await page.evaluate(() => (window as any).bin.close());
  });
  it("sends the SDK's token in no URL: the connection is the token's user, and no upgrade target carries it", async () => {
    // An app's own server, so every upgrade's request target can be recorded as a proxy would log it.
    const switchboard = createServer({ logger: pino({ level: 'silent' }), jwtSecret: SECRET });
    const app = http.createServer(async (req, res) => {
      if (!(await switchboard.handleRequest(req, res))) res.writeHead(404).end();
    });
    const targets: string[] = [];
    const offered: string[] = [];
    app.on('upgrade', (req: http.IncomingMessage) => {
      targets.push(req.url ?? '');
      offered.push(req.headers['sec-websocket-protocol'] ?? '');
    });
    await switchboard.attach(app);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appPort = (app.address() as AddressInfo).port;
    const tab = await browser.newPage();
    try {
      await tab.goto(`http://127.0.0.1:${appPort}/healthz`);
      const token = await sign({ sub: 'browser-user' });
      const seen = (await tab.evaluate(`(async () => {
        const { connect } = await import('/client.js');
        const client = connect('ws://' + location.host + '/ws', { token: () => ${JSON.stringify(token)} });
        const welcome = await new Promise((resolve) => client.on('connected', resolve));
        await client.publish('news', { ok: true });
        client.close();
        return { user: welcome.user };
      })()`)) as { user: string };
      expect(seen.user).toBe('browser-user');
      expect(targets).toEqual(['/ws']);
      for (const target of targets) expect(target).not.toContain(token);
      // It was sent, beside the codec, in the header proxies do not log.
      expect(offered).toEqual([`switchboard.v1.json, switchboard.token.${token}`]);
    } finally {
      await tab.close();
      await switchboard.close();
      await new Promise((resolve) => app.close(resolve));
    }
  });
});
