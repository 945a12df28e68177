/**
 * Reads the `exp` claim of a token that looks like a JWT, in milliseconds since the epoch.
 * The claim is not trusted for anything but shortening how long an answer is cached and refusing
 * a token that has already run out: HyperID remains the judge of every token.
 */
export function readJwtExpiry(accessToken: string): number | undefined {
  const parts = accessToken.split('.');
  if (parts.length !== 3 || parts[1].length === 0) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
