// Who is connecting: the token is read from the handshake (docs/protocol.md,
// "Connecting": Authorization header, then the Sec-WebSocket-Protocol token
// entry, then the query, then the cookie) and verified with jose. Tokens are
// never logged. jose is loaded at the first token to verify, so a server
// that never sees one starts without reading it.
import type { IncomingMessage } from 'node:http';
import type { createRemoteJWKSet, errors, jwtVerify, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { SwitchboardError } from '../protocol/codes.js';
import { tokenFromSubprotocols } from '../protocol/token-subprotocol.js';

export const TOKEN_COOKIE = 'switchboard_token';

/** What a verified token says about a connection. Anonymous connections have user null. */
export interface Identity {
  user: string | null;
  /** Seconds since the epoch, or null when the token has no exp (or there is no token). */
  expiresAt: number | null;
  /** The token's `info` claim, shown in presence. */
  info: unknown;
  /** The token's `channels` claim: glob patterns for namespaces with subscribe: "token". */
  channels: string[];
  /** The token's `iat` and `jti`, for revocation (absent when no token said who the client is). */
  issuedAt?: number | null;
  jti?: string | null;
  /** Given by a hook (not a token): at `expiresAt` the refresh hooks are asked before closing 4001. */
  byHook?: boolean;
  /** Channels the server subscribes the connection to after the welcome (a hook's `subscriptions`). */
  subscriptions?: string[];
}

interface Jose {
  jwtVerify: typeof jwtVerify;
  createRemoteJWKSet: typeof createRemoteJWKSet;
  errors: typeof errors;
}
let jose: Promise<Jose> | null = null;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));

export const ANONYMOUS: Identity = { user: null, expiresAt: null, info: null, channels: [] };

/** `url`: the parsed request target, or null when it has no query. */
export function tokenFromRequest(req: IncomingMessage, url: URL | null): string | null {
  const authorization = req.headers.authorization;
  if (authorization) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match) return match[1]!;
  }
  const fromProtocol = tokenFromSubprotocols(req.headers['sec-websocket-protocol']);
  if (fromProtocol) return fromProtocol;
  // Kept for hand-written clients; a URL is written to access logs (docs/security.md).
  const fromQuery = url?.searchParams.get('token');
  if (fromQuery) return fromQuery;
  return cookieValue(req.headers.cookie, TOKEN_COOKIE);
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw) || null;
      } catch {
        return raw || null;
      }
    }
  }
  return null;
}

export interface VerifierOptions {
  jwtSecret: string | null;
  jwks: string | null;
  /** ms to wait after a JWKS fetch before fetching again for an unknown key id. */
  jwksCooldown: number;
  /** The `aud` a token must name (one of), when set. */
  jwtAudience?: string | string[] | null;
  /** The `iss` a token must have (one of), when set. */
  jwtIssuer?: string | string[] | null;
  /** Whether a token was revoked (POST /api/revoke); a rejection makes the token `unavailable` to check. */
  isRevoked?: (user: string, issuedAt: number | null, jti: string | null) => Promise<boolean>;
}

/** Verifies HS256 tokens with the shared secret and RS256/ES256 tokens with the JWKS (cached and refreshed by jose). */
export class TokenVerifier {
  private readonly secret: Uint8Array | null;
  private readonly jwks: { url: URL; cooldown: number } | null;
  /** jose's remote key set for `jwks`, made at the first token that needs it. */
  private keySet: JWTVerifyGetKey | null = null;
  /** The claims jose checks besides the signature and expiry. */
  private readonly claims: JWTVerifyOptions;
  private readonly isRevoked: VerifierOptions['isRevoked'];

  constructor(options: VerifierOptions) {
    this.claims = {};
    this.isRevoked = options.isRevoked;
    if (options.jwtAudience) this.claims.audience = options.jwtAudience;
    if (options.jwtIssuer) this.claims.issuer = options.jwtIssuer;
    this.secret = options.jwtSecret ? new TextEncoder().encode(options.jwtSecret) : null;
    this.jwks = options.jwks ? { url: new URL(options.jwks), cooldown: options.jwksCooldown } : null;
  }

  get enabled(): boolean {
    return this.secret !== null || this.jwks !== null;
  }

  /**
   * Resolves to the identity in the token, or throws a SwitchboardError:
   * `unauthorized` for a bad token, `unavailable` when the JWKS cannot be had.
   */
  async verify(token: string): Promise<Identity> {
    const payload = await this.verifySignature(token);
    if (typeof payload.sub !== 'string' || payload.sub.length === 0) {
      throw new SwitchboardError('unauthorized', 'token has no sub claim');
    }
    const channels = Array.isArray(payload.channels) ? payload.channels.filter((c): c is string => typeof c === 'string') : [];
    const issuedAt = typeof payload.iat === 'number' ? payload.iat : null;
    const jti = typeof payload.jti === 'string' ? payload.jti : null;
    if (this.isRevoked && (await this.revoked(payload.sub, issuedAt, jti))) throw new SwitchboardError('unauthorized', 'token revoked');
    return {
      user: payload.sub,
      expiresAt: typeof payload.exp === 'number' ? payload.exp : null,
      info: payload.info ?? null,
      channels,
      issuedAt,
      jti,
    };
  }

  /** A revocation list that cannot be read fails the check closed: `unavailable` (503), never a revoked token let in. */
  private async revoked(user: string, issuedAt: number | null, jti: string | null): Promise<boolean> {
    try {
      return await this.isRevoked!(user, issuedAt, jti);
    } catch {
      throw new SwitchboardError('unavailable', 'cannot check token revocations right now');
    }
  }

  private async verifySignature(token: string): Promise<JWTPayload> {
    if (!this.enabled) throw new SwitchboardError('unauthorized', 'this server has no key to verify tokens');
    const { jwtVerify, createRemoteJWKSet, errors } = await loadJose();
    try {
      const alg = headerAlg(token);
      if (alg === 'HS256') {
        if (!this.secret) throw new SwitchboardError('unauthorized', 'HS256 tokens are not accepted here');
        return (await jwtVerify(token, this.secret, { ...this.claims, algorithms: ['HS256'] })).payload;
      }
      if (!this.jwks) throw new SwitchboardError('unauthorized', `${alg} tokens are not accepted here`);
      // jose caches the key set and refetches it when a token names an unknown
      // key id (rotation), at most once per cooldown.
      this.keySet ??= createRemoteJWKSet(this.jwks.url, { cooldownDuration: this.jwks.cooldown, timeoutDuration: 5_000 });
      return (await jwtVerify(token, this.keySet, { ...this.claims, algorithms: ['RS256', 'ES256'] })).payload;
    } catch (error) {
      throw toUnauthorized(error, errors);
    }
  }
}

function headerAlg(token: string): string {
  const [header] = token.split('.');
  try {
    const parsed = JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
    if (typeof parsed.alg === 'string') return parsed.alg;
  } catch {
    // fall through
  }
  throw new SwitchboardError('unauthorized', 'token is malformed');
}

function toUnauthorized(error: unknown, joseErrors: Jose['errors']): SwitchboardError {
  if (error instanceof SwitchboardError) return error;
  // The key set could not be fetched: the token may be fine, the server is not.
  if (error instanceof joseErrors.JWKSTimeout || !(error instanceof joseErrors.JOSEError)) {
    return new SwitchboardError('unavailable', 'the keys to verify tokens cannot be fetched right now');
  }
  if (error instanceof joseErrors.JWTExpired) return new SwitchboardError('unauthorized', 'token expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed && (error.claim === 'aud' || error.claim === 'iss')) {
    return new SwitchboardError('unauthorized', `token ${error.claim === 'aud' ? 'audience' : 'issuer'} is not accepted here`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new SwitchboardError('unauthorized', 'token signature is invalid');
  }
  return new SwitchboardError('unauthorized', 'token is invalid');
}
