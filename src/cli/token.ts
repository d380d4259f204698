// `switchboard token`: sign an HS256 development token.
import { SignJWT } from 'jose';
import { numberFlag, UsageError, type Command } from './args.js';

export const token: Command = {
  spec: {
    name: 'token',
    summary: 'Sign an HS256 token for development (production tokens come from your own auth service).',
    args: '',
    positionals: [0, 0],
    flags: {
      sub: { type: 'string', value: 'USER', help: 'the user id (required)' },
      'jwt-secret': { type: 'string', value: 'SECRET', env: true, help: "the server's jwtSecret (required)" },
      ttl: { type: 'string', value: 'SECONDS', default: '3600', help: 'lifetime' },
      channels: { type: 'string', value: 'A,B', help: 'channel patterns for namespaces with subscribe: "token"' },
      info: { type: 'string', value: 'JSON', help: 'shown to others in presence' },
    },
    examples: [
      'switchboard token --sub 42 --jwt-secret dev-secret',
      'switchboard token --sub ann --jwt-secret dev-secret --ttl 600 --channels \'chat:*,news\' --info \'{"name":"Ann"}\'',
    ],
  },
  async run({ values }) {
    const secret = values['jwt-secret'] as string | undefined;
    if (!values.sub) throw new UsageError('missing --sub USER');
    if (!secret) throw new UsageError('missing --jwt-secret (or SWITCHBOARD_JWT_SECRET)');
    const claims: Record<string, unknown> = {};
    if (values.channels) claims.channels = (values.channels as string).split(',').map((c) => c.trim());
    if (values.info) {
      try {
        claims.info = JSON.parse(values.info as string);
      } catch (error) {
        throw new UsageError(`--info is not JSON: ${(error as Error).message}`);
      }
    }
    const ttl = numberFlag(values, 'ttl', { min: 1 });
    const jwt = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(values.sub as string)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
      .sign(new TextEncoder().encode(secret));
    process.stdout.write(`${jwt}\n`);
  },
};
