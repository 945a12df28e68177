import { createHash } from 'node:crypto';

/** The cache key of an access token: its SHA-256 digest, so no cache ever holds a token. */
export function tokenDigest(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}
