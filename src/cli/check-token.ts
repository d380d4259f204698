// `switchboard check-token TOKEN`: verify a token exactly as the server would
// (TokenVerifier, with the configured secret or JWKS) and show its claims.
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TokenVerifier } from '../server/auth.js';
import { parseConfig } from '../server/config.js';
import { UsageError, type Command } from './args.js';
import { readConfigFile } from './options.js';
import { safeFor } from './terminal-safe.js';

export const checkToken: Command = {
  spec: {
    name: 'check-token',
    summary: "Verify a token with the server's secret or JWKS and print its claims and expiry.",
    args: 'TOKEN|-',
    positionals: [1, 1],
    flags: {
      config: { type: 'string', value: 'FILE', env: true, help: 'take jwtSecret and jwks from this config file' },
      'jwt-secret': { type: 'string', value: 'SECRET', env: true, help: 'verify HS256 tokens with this secret' },
      jwks: { type: 'string', value: 'URL', env: true, help: 'verify RS256/ES256 tokens with the keys at this URL' },
    },
    notes:
      'Exit 0 when the server would accept the token, 1 (with the reason) when it would refuse it. `-` reads the token from standard input, out of the process list.',
    examples: [
      'switchboard check-token eyJhbGciOi… --jwt-secret dev-secret',
      'switchboard check-token - --config switchboard.json < token.txt',
      'switchboard check-token "$TOKEN" --jwks https://auth.example.com/.well-known/jwks.json',
    ],
  },
  async run({ values, positionals }) {
    const token = positionals[0] === '-' ? (await readAll()).trim() : positionals[0]!;
    const file = values.config ? parseConfig(readConfigFile(values.config as string)) : null;
    const jwtSecret = (values['jwt-secret'] as string | undefined) ?? file?.jwtSecret ?? null;
    const jwks = (values.jwks as string | undefined) ?? file?.jwks ?? null;
    if (!jwtSecret && !jwks) throw new UsageError('give --jwt-secret, --jwks or --config with one of them');
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch (error) {
      throw new Error(`not a JWT: ${(error as Error).message}`, { cause: error });
    }
    const verifier = new TokenVerifier({
      jwtSecret,
      jwks,
      jwksCooldown: file?.jwksCooldown ?? 30_000,
      jwtAudience: file?.jwtAudience,
      jwtIssuer: file?.jwtIssuer,
    });
    // The token may come from someone else: its claims are theirs to write.
    const safe = safeFor(process.stdout);
    const out = (line: string) => process.stdout.write(`${safe(line)}\n`);
    out(`header  ${JSON.stringify(header)}`);
    out(`claims  ${JSON.stringify(claims)}`);
    out(`expiry  ${describeExpiry(claims.exp)}`);
    try {
      const identity = await verifier.verify(token);
      out(`valid   user ${identity.user}, channels ${JSON.stringify(identity.channels)}, info ${JSON.stringify(identity.info)}`);
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new Error(`refused: ${code ? `${code}: ` : ''}${(error as Error).message}`, { cause: error });
    }
  },
};

function describeExpiry(exp: number | undefined): string {
  if (exp === undefined) return 'none (the token never expires)';
  const seconds = exp - Math.floor(Date.now() / 1000);
  const when = new Date(exp * 1000).toISOString();
  return seconds >= 0 ? `${when} (in ${duration(seconds)})` : `${when} (expired ${duration(-seconds)} ago)`;
}

function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
