// Who the client is behind a reverse proxy: the socket's address, unless that
// address is a trusted proxy (config `trustProxy`), in which case the
// forwarding header the proxy writes is walked from the right past trusted
// hops (docs/security.md, "Behind a proxy"). A header from anyone else is
// ignored: a client can write whatever it likes in it.
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

export type ForwardedHeader = 'x-forwarded-for' | 'forwarded';

/** `10.0.0.0/8`, `::1`, `fd00::/8`...: an address or a CIDR block. */
export function isAddressOrCidr(entry: string): boolean {
  const [address, bits, extra] = entry.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  if (!/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

export class TrustedProxies {
  private readonly list: BlockList | null;

  /** `entries` were checked by the config schema (isAddressOrCidr). */
  constructor(
    entries: readonly string[],
    private readonly header: ForwardedHeader = 'x-forwarded-for',
  ) {
    if (entries.length === 0) {
      this.list = null;
      return;
    }
    this.list = new BlockList();
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
  }

  /** The client's address for per-IP limits, logs and hooks. */
  clientAddress(req: IncomingMessage): string {
    const socketAddress = req.socket.remoteAddress ?? 'unknown';
    if (!this.trusts(socketAddress)) return socketAddress;
    const hops = this.header === 'forwarded' ? forwardedFor(req.headers.forwarded) : xForwardedFor(req.headers['x-forwarded-for']);
    // Walk from the proxy towards the client: the first hop not trusted is the
    // client; a hop that is not an address (obfuscated, garbage) ends the walk
    // at the last trusted one, which is as far as anything can be believed.
    let client = socketAddress;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      if (isIP(hop) === 0) return client;
      client = hop;
      if (!this.trusts(hop)) return hop;
    }
    return client;
  }

  private trusts(address: string): boolean {
    if (!this.list) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** `X-Forwarded-For: client, proxy1, proxy2`, over any number of header lines. */
export function xForwardedFor(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  const lines = Array.isArray(header) ? header : [header];
  return lines.flatMap((line) => line.split(',')).map((hop) => stripPort(hop.trim()));
}

/** RFC 7239 `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`: the `for` of each element. */
export function forwardedFor(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header.split(',').map((element) => {
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
      return stripPort(
        pair
          .slice(eq + 1)
          .trim()
          .replace(/^"(.*)"$/, '$1'),
      );
    }
    // An element without `for` says nothing about this hop: not an address.
    return '';
  });
}

/** `[::1]:4711` → `::1`, `1.2.3.4:80` → `1.2.3.4`; a bare IPv6 address is left alone. */
function stripPort(hop: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(hop);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(hop);
  return v4 ? v4[1]! : hop;
}
