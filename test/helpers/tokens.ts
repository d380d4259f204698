import { SignJWT } from 'jose';

export const SECRET = 'test-secret-of-reasonable-length';

export async function sign(claims: Record<string, unknown> & { sub?: string }, options: { secret?: string; expiresIn?: number | null } = {}): Promise<string> {
  const { sub, ...rest } = claims;
  let jwt = new SignJWT(rest).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (sub !== undefined) jwt = jwt.setSubject(sub);
  const expiresIn = options.expiresIn === undefined ? 3600 : options.expiresIn;
  if (expiresIn !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}
