// Behind a reverse proxy (config trustProxy): the client address for the
// per-IP cap and the logs is the forwarded one only when the socket's peer is
// a trusted proxy; from anyone else the header is ignored.
import type { IncomingMessage } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TrustedProxies, type ForwardedHeader } from '../../src/server/client-address.js';
import { ConfigError, createServer, parseConfig, type ServerOptions, type SwitchboardServer } from '../../src/server/index.js';
import { upgradeRequest } from '../helpers/http.js';
import { RawClient } from '../helpers/raw-client.js';

describe('the client address of a request', () => {
  const request = (peer: string, headers: Record<string, string>) => ({ socket: { remoteAddress: peer }, headers }) as unknown as IncomingMessage;
  const from = (trusted: string[], peer: string, headers: Record<string, string>, header?: ForwardedHeader) =>
    new TrustedProxies(trusted, header).clientAddress(request(peer, headers));

  it('is the socket address when the peer is not trusted, whatever the header says', () => {
    expect(from([], '198.51.100.7', { 'x-forwarded-for': '1.2.3.4' })).toBe('198.51.100.7');
    expect(from(['10.0.0.0/8'], '198.51.100.7', { 'x-forwarded-for': '1.2.3.4' })).toBe('198.51.100.7');
  });

  it('is the rightmost untrusted X-Forwarded-For hop from a trusted proxy', () => {
    const trusted = ['127.0.0.1', '10.0.0.0/8'];
    // The client made up "6.6.6.6"; the edge proxy appended the real peer, an inner proxy its own.
    expect(from(trusted, '127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.1.2.3' })).toBe('203.0.113.9');
    expect(from(trusted, '::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.9:5555' })).toBe('203.0.113.9');
    // Every hop trusted: the leftmost is as far as it goes.
    expect(from(trusted, '127.0.0.1', { 'x-forwarded-for': '10.9.9.9, 10.1.1.1' })).toBe('10.9.9.9');
    // No header: the proxy itself.
    expect(from(trusted, '127.0.0.1', {})).toBe('127.0.0.1');
    // A hop that is not an address ends the walk at the last trusted hop.
    expect(from(trusted, '127.0.0.1', { 'x-forwarded-for': '203.0.113.9, garbage, 10.1.1.1' })).toBe('10.1.1.1');
  });

  it('reads RFC 7239 Forwarded when that is the header the proxies write, and then ignores X-Forwarded-For', () => {
    const headers = { forwarded: 'for=6.6.6.6, for="[2001:db8::17]:4711";proto=https, for=10.0.0.2', 'x-forwarded-for': '7.7.7.7' };
    expect(from(['::1', '10.0.0.0/8'], '::1', headers, 'forwarded')).toBe('2001:db8::17');
    expect(from(['::1'], '::1', { 'x-forwarded-for': '7.7.7.7' }, 'forwarded')).toBe('::1');
    expect(from(['::1'], '::1', { forwarded: 'for=_hidden' }, 'forwarded')).toBe('::1');
  });

  it('accepts addresses and CIDR blocks in the config, and names a bad entry', () => {
    expect(parseConfig({ trustProxy: ['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8'] }).trustProxy).toHaveLength(4);
    for (const bad of ['localhost', '10.0.0.0/33', '1.2.3.4/8/1', '::1/129']) {
      expect(() => parseConfig({ trustProxy: [bad] })).toThrow(ConfigError);
    }
    expect(() => parseConfig({ trustProxy: ['10.0.0.0/33'] })).toThrow(/trustProxy\.0/);
  });
});

describe('the per-IP WebSocket cap behind a proxy', () => {
  let server: SwitchboardServer | undefined;
  const clients: RawClient[] = [];
  const lines: string[] = [];

  async function start(options: ServerOptions): Promise<{ url: string; wsUrl: string }> {
    lines.length = 0;
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    server = createServer({ logger, limits: { connectionsPerIp: 2 }, ...options });
    const { url } = await server.listen(0, '127.0.0.1');
    return { url, wsUrl: `${url.replace('http', 'ws')}/ws` };
  }
  const connectAs = async (wsUrl: string, forwardedFor: string) => {
    const client = await RawClient.connect(wsUrl, { headers: { 'X-Forwarded-For': forwardedFor } });
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
  });

  it('counts the forwarded address when the proxy (127.0.0.1) is trusted', async () => {
    const { url, wsUrl } = await start({ trustProxy: ['127.0.0.1', '::1'] });
    await connectAs(wsUrl, '203.0.113.1');
    await connectAs(wsUrl, '203.0.113.1');
    const third = await upgradeRequest(url, { 'X-Forwarded-For': '203.0.113.1' });
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('too_many_connections');
    // Other clients behind the same proxy are not held back by that one.
    await connectAs(wsUrl, '203.0.113.2');
    await connectAs(wsUrl, '203.0.113.3');
    // The logs name the client, not the proxy.
    const connects = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'connect');
    expect(connects.map((l) => l.ip)).toEqual(['203.0.113.1', '203.0.113.1', '203.0.113.2', '203.0.113.3']);
  });

  it('counts the socket address, ignoring a spoofed header, when 127.0.0.1 is not trusted', async () => {
    const { url, wsUrl } = await start({ trustProxy: ['10.0.0.0/8'] });
    await connectAs(wsUrl, '203.0.113.1');
    await connectAs(wsUrl, '203.0.113.2');
    const third = await upgradeRequest(url, { 'X-Forwarded-For': '203.0.113.3' });
    expect(third.status).toBe(429);
    const connects = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'connect');
    expect(connects.map((l) => l.ip)).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it('ignores X-Forwarded-For from a trusted proxy configured to write Forwarded', async () => {
    const { url, wsUrl } = await start({ trustProxy: ['127.0.0.1'], forwardedHeader: 'forwarded' });
    const viaForwarded = async (forwarded: string, spoof: string) => {
      const client = await RawClient.connect(wsUrl, { headers: { Forwarded: forwarded, 'X-Forwarded-For': spoof } });
      clients.push(client);
    };
    await viaForwarded('for=203.0.113.1', '1.1.1.1');
    await viaForwarded('for=203.0.113.1', '2.2.2.2');
    expect((await upgradeRequest(url, { Forwarded: 'for=203.0.113.1', 'X-Forwarded-For': '3.3.3.3' })).status).toBe(429);
    // Two more with one X-Forwarded-For between them and the first: counted by Forwarded, all in.
    await viaForwarded('for=203.0.113.2', '1.1.1.1');
    await viaForwarded('for="[2001:db8::1]:443"', '1.1.1.1');
  });
});
