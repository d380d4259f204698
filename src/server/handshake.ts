// Decides whether an HTTP upgrade request becomes a WebSocket (docs/protocol.md,
// "Connecting"). Every refusal is an HTTP status with a JSON error body, sent
// before any WebSocket exists.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Codec } from '../protocol/codec.js';
import { jsonCodec } from '../protocol/codec.js';
import { SwitchboardError, type ErrorCode } from '../protocol/codes.js';
import { TOKEN_SUBPROTOCOL_PREFIX } from '../protocol/token-subprotocol.js';
import { ANONYMOUS, tokenFromRequest, type Identity, type TokenVerifier } from './auth.js';
import { DisconnectError, type ClientContext } from './core/index.js';
import { statusOf } from './http/respond.js';
import { BAD_TARGET_MESSAGE, parseTarget } from './http/target.js';

export interface Refusal {
  status: number;
  code: ErrorCode | 'forbidden_origin' | 'too_many_connections';
  message: string;
  headers?: Record<string, string>;
}

export interface Accepted {
  identity: Identity;
  codec: Codec;
  /** The client's address: the socket's, or the forwarded one from a trusted proxy (client-address.ts). */
  ip: string;
  /** The headers named in `forwardHeaders`, lower-case. */
  headers: Readonly<Record<string, string>>;
  /** The connection's id, when a hook was already told it. */
  client?: string;
  /** Close at once with this code after the upgrade (a hook's disconnect answer). */
  close?: { code: number; reason: string };
}

export interface HandshakePolicy {
  path: string;
  /** Empty: the server's own origin and localhost origins. */
  allowedOrigins: string[];
  /**
   * Host names the server listens on (listen()'s host when it is a name):
   * with an empty allowedOrigins, an origin is the server's own only when
   * its Host is one of these, an IP address or localhost (DNS rebinding).
   */
  listenHosts: ReadonlySet<string>;
  tls: boolean;
  codecs: Codec[];
  verifier: TokenVerifier;
  /** True when no namespace admits anonymous clients, so a token is required. */
  requireToken: boolean;
  /**
   * 503 while draining or at the connection cap, 429 at the per-IP limit.
   * Asked before the token is verified so a full server spends nothing on it;
   * it holds no slot: the caller takes one once the handshake is accepted.
   */
  admission: (ip: string) => Refusal | null;
  /**
   * The application's authenticate hooks: an identity, or null to leave it
   * to the token; null at once (no promise) when there are none.
   */
  authenticate?: (req: IncomingMessage) => Promise<Identity | null> | null;
  /**
   * The application's authenticateWithoutToken hooks (the backend's connect
   * call), for a request with no valid token: an identity, or null to leave
   * the token's verdict; null at once when there are none.
   */
  authenticateWithoutToken?: (req: IncomingMessage, client: ClientContext) => Promise<Identity | null> | null;
  /** Handshake headers kept for hooks (proxy.headers), lower-case. */
  forwardHeaders: readonly string[];
  /** An authenticate hook failed with something other than a contract error. */
  onHookError?: (error: unknown) => void;
  /** The client's address for the per-IP cap, logs and hooks (trustProxy). */
  clientAddress: (req: IncomingMessage) => string;
}

const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i;

/** An upgrade request that is a well-formed WebSocket handshake to our path, with a subprotocol we speak. */
export interface Upgrade {
  /** The parsed target, or null when it is the path alone. */
  url: URL | null;
  codec: Codec;
}

/**
 * Whether the request is a WebSocket handshake this endpoint can complete:
 * the path, the upgrade headers and the subprotocol. Nothing about the
 * client yet (checkClient): a node turning clients away (a drain,
 * admission) completes such an upgrade only to close it with a retry hint.
 */
export function checkUpgrade(req: IncomingMessage, policy: HandshakePolicy): Upgrade | Refusal {
  // The common target, the endpoint's own path without a query, needs no URL
  // parsing: `new URL` is a measurable part of a handshake.
  let url: URL | null = null;
  if (req.url !== policy.path || !plainPath(policy.path)) {
    url = parseTarget(req.url);
    if (!url) return refusal(400, 'bad_request', BAD_TARGET_MESSAGE);
    if (url.pathname !== policy.path) return refusal(404, 'not_found', `no WebSocket endpoint at ${url.pathname}`);
  }

  const upgradeProblem = checkUpgradeHeaders(req);
  if (upgradeProblem) return upgradeProblem;

  const codec = chooseCodec(req.headers['sec-websocket-protocol'], policy.codecs);
  if (!codec) {
    const known = policy.codecs.map((c) => c.subprotocol).join(', ');
    return refusal(400, 'bad_request', `no supported subprotocol offered (a token entry needs one beside it); this server speaks ${known}`);
  }
  return { url, codec };
}

/**
 * What every transport checks of the request that opens a connection, in
 * this order: admission (draining, caps), `Origin`, then who the client is
 * (authenticate hooks, then the token). `url`: the parsed target, or null
 * when it has no query. Used by the WebSocket upgrade and the HTTP transports.
 */
export function checkClient(
  req: IncomingMessage,
  url: URL | null,
  policy: HandshakePolicy,
  codec: Codec,
  transport: ClientContext['transport'] = 'websocket',
): Accepted | Refusal | Promise<Accepted | Refusal> {
  const ip = policy.clientAddress(req);
  const admission = policy.admission(ip);
  if (admission) return admission;

  const origin = req.headers.origin;
  if (origin !== undefined) {
    const refused = checkOrigin(origin, req, policy);
    if (refused) return refused;
  }

  const base: Connecting = { codec, ip, headers: policy.forwardHeaders.length === 0 ? NO_HEADERS : pickHeaders(req, policy.forwardHeaders) };
  // The application's own authentication (a session cookie, an API key) comes first.
  const hooked = policy.authenticate?.(req) ?? null;
  if (hooked)
    return hooked.then(
      (identity) => (identity ? { identity, ...base } : fromToken(req, url, policy, base, transport)),
      (error: unknown) => hookRefusal(error, policy, base),
    );
  return fromToken(req, url, policy, base, transport);
}

/** What is known of an accepted connection before its identity. */
type Connecting = Omit<Accepted, 'identity'>;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The named headers of the request (repeated ones joined as Node joins them). */
function pickHeaders(req: IncomingMessage, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) {
    const value = req.headers[name];
    if (value !== undefined) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}

/**
 * A request with no valid token: the authenticateWithoutToken hooks decide
 * (the backend's connect call), else `otherwise` (anonymous or 401) stands.
 */
function withoutToken(
  req: IncomingMessage,
  policy: HandshakePolicy,
  base: Connecting,
  otherwise: Accepted | Refusal,
  transport: ClientContext['transport'],
): Accepted | Refusal | Promise<Accepted | Refusal> {
  if (!policy.authenticateWithoutToken) return otherwise;
  const client = randomUUID();
  const context: ClientContext = {
    client,
    user: null,
    ip: base.ip,
    info: null,
    transport,
    protocol: base.codec.binary ? 'msgpack' : 'json',
    headers: base.headers,
  };
  const pending = policy.authenticateWithoutToken(req, context);
  if (!pending) return otherwise;
  return pending.then(
    (identity) => (identity ? { identity, ...base, client } : otherwise),
    (error: unknown) => hookRefusal(error, policy, { ...base, client }),
  );
}

/** A refusal for a hook's error; a DisconnectError is an accepted upgrade closed at once with its code, which a browser can see. */
function hookRefusal(error: unknown, policy: HandshakePolicy, base?: Connecting): Accepted | Refusal {
  if (error instanceof DisconnectError && base) return { identity: ANONYMOUS, ...base, close: { code: error.code, reason: error.reason } };
  if (error instanceof SwitchboardError && error.code !== 'internal') return refusal(statusOf(error.code), error.code, error.message);
  policy.onHookError?.(error);
  return refusal(500, 'internal', 'internal error');
}

/** The identity from the request's token; without a valid one, the authenticateWithoutToken hooks', else anonymous when none is required. */
function fromToken(
  req: IncomingMessage,
  url: URL | null,
  policy: HandshakePolicy,
  base: Connecting,
  transport: ClientContext['transport'],
): Accepted | Refusal | Promise<Accepted | Refusal> {
  const token = tokenFromRequest(req, url);
  if (token === null) {
    const otherwise = policy.requireToken ? refusal(401, 'unauthorized', 'a token is required') : { identity: ANONYMOUS, ...base };
    return withoutToken(req, policy, base, otherwise, transport);
  }
  return policy.verifier.verify(token).then(
    (identity): Accepted => ({ identity, ...base }),
    (error: unknown) => {
      if (error instanceof SwitchboardError && error.code === 'unavailable') return refusal(503, 'unavailable', error.message);
      const message = error instanceof SwitchboardError ? error.message : 'token could not be verified';
      return withoutToken(req, policy, base, refusal(401, 'unauthorized', message), transport);
    },
  );
}

/** Paths that `new URL` leaves as they are: a target equal to one is its own pathname. */
const plainPaths = new Map<string, boolean>();
function plainPath(path: string): boolean {
  let plain = plainPaths.get(path);
  if (plain === undefined) {
    plain = parseTarget(path)?.pathname === path;
    plainPaths.set(path, plain);
  }
  return plain;
}

export function isRefusal(result: Accepted | Upgrade | Refusal): result is Refusal {
  return 'status' in result;
}

export function refusal(status: number, code: Refusal['code'], message: string, headers?: Record<string, string>): Refusal {
  return headers ? { status, code, message, headers } : { status, code, message };
}

/** How long a refused peer gets to take the answer before its socket is destroyed anyway. */
export const REFUSAL_FLUSH_MS = 1_000;

/**
 * Answer with the refusal, then destroy the socket once the answer is flushed
 * (or after REFUSAL_FLUSH_MS). Ending alone only half-closes it: a peer that
 * never closes its side would keep the socket, and a file descriptor, for good.
 */
export function writeRefusal(socket: Duplex, result: Refusal): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: { code: result.code, message: result.message } });
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    ...result.headers,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const cap = setTimeout(() => socket.destroy(), REFUSAL_FLUSH_MS);
  const done = () => {
    clearTimeout(cap);
    socket.destroy();
  };
  socket.once('close', done);
  socket.end(`HTTP/1.1 ${result.status} ${STATUS_CODES[result.status]}\r\n${head}\r\n${body}`, done);
}

function checkUpgradeHeaders(req: IncomingMessage): Refusal | null {
  if (req.method !== 'GET') return refusal(400, 'bad_request', 'a WebSocket upgrade must be a GET request');
  const upgrade = req.headers.upgrade;
  if (!upgrade || upgrade.toLowerCase() !== 'websocket') {
    return refusal(400, 'bad_request', 'missing or invalid Upgrade header');
  }
  const key = req.headers['sec-websocket-key'];
  if (!key || !WEBSOCKET_KEY.test(key.trim())) {
    return refusal(400, 'bad_request', 'missing or invalid Sec-WebSocket-Key header');
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    return refusal(400, 'bad_request', 'unsupported WebSocket version; use 13', { 'Sec-WebSocket-Version': '13' });
  }
  return null;
}

// A browser hides a refused handshake's answer from the page, so the log line
// (and a client that reads the 403) is where this is explained.
const NULL_ORIGIN =
  'origin null (a page opened from a file:// URL, or a sandboxed frame) is not allowed: serve the page over http(s), or list "null" in allowedOrigins (for development only: every local file and sandboxed frame may then connect)';

/**
 * Null when `origin` may connect. With no allowedOrigins, localhost origins
 * and the server's own origin may; an origin is the server's own only when
 * the request's Host names the server (an IP address, localhost, or a host it
 * listens on), since a page whose name was re-pointed at the server's address
 * (DNS rebinding) sends its own name as both Origin and Host.
 */
export function checkOrigin(origin: string, req: IncomingMessage, policy: HandshakePolicy): Refusal | null {
  const normalized = origin.toLowerCase();
  if (policy.allowedOrigins.length > 0) {
    const listed = policy.allowedOrigins.some((allowed) => allowed === '*' || allowed.toLowerCase().replace(/\/$/, '') === normalized);
    if (listed) return null;
    return refusal(403, 'forbidden_origin', normalized === 'null' ? NULL_ORIGIN : `origin ${origin} is not allowed`);
  }
  if (normalized === 'null') return refusal(403, 'forbidden_origin', NULL_ORIGIN);
  if (LOCALHOST_ORIGIN.test(origin)) return null;
  const host = (req.headers.host ?? '').toLowerCase();
  const own = `${policy.tls ? 'https' : 'http'}://${host}`;
  if (normalized !== own) return refusal(403, 'forbidden_origin', `origin ${origin} is not allowed`);
  if (namesThisServer(host, policy.listenHosts)) return null;
  return refusal(
    403,
    'forbidden_origin',
    `origin ${origin} is not allowed: its host is not an address of this server (with no allowedOrigins, only localhost, IP addresses and the listen host are); list the origin in allowedOrigins`,
  );
}

/** True when a Host header names this server: an IP address, localhost, or a name it listens on. */
function namesThisServer(host: string, listenHosts: ReadonlySet<string>): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return listenHosts.has(name);
}

/**
 * The first subprotocol the client offers that we speak; JSON when it offers
 * none. The token entry is never chosen, so never echoed: a client offering
 * only that gets null, as a server answering no subprotocol to a client that
 * offered some is a failed handshake to browsers and `ws`.
 */
function chooseCodec(header: string | undefined, codecs: Codec[]): Codec | null {
  if (header === undefined) return jsonCodec;
  for (const offered of header.split(',')) {
    const name = offered.trim();
    if (name.startsWith(TOKEN_SUBPROTOCOL_PREFIX)) continue;
    const codec = codecs.find((c) => c.subprotocol === name);
    if (codec) return codec;
  }
  return null;
}

/** The path of an upgrade request, or null when its target cannot be parsed. */
export function upgradePath(req: IncomingMessage): string | null {
  return parseTarget(req.url)?.pathname ?? null;
}
