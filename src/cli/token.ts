// `switchboard token`: sign an HS256 development token.
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { envName } from './options.js';

export async function token(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      sub: { type: 'string' },
      'jwt-secret': { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      channels: { type: 'string' },
      info: { type: 'string' },
    },
    strict: true,
  });
  const secret = values['jwt-secret'] ?? process.env[envName('jwt-secret')];
  if (!values.sub || !secret) throw new Error('usage: switchboard token --sub USER --jwt-secret S [--ttl SECONDS] [--channels a:*,b] [--info JSON]');
  const claims: Record<string, unknown> = {};
  if (values.channels) claims.channels = values.channels.split(',').map((c) => c.trim());
  if (values.info) claims.info = JSON.parse(values.info);
  const ttl = Number(values.ttl);
  if (!Number.isFinite(ttl) || ttl <= 0) throw new Error('--ttl must be a positive number of seconds');
  const jwt = await new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(values.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(new TextEncoder().encode(secret));
  process.stdout.write(`${jwt}\n`);
}
