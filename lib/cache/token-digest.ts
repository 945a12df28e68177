import { createHmac, hash, timingSafeEqual } from 'node:crypto';

/** The in-memory cache key of an access token: its SHA-256 digest, so no cache ever holds a token. */
export function tokenDigest(accessToken: string): string {
  // One-shot hashing: about half the cost of createHash() on the guard's hot path.
  return hash('sha256', accessToken, 'base64url');
}

/**
 * Names and signs cache entries. Without a secret (memory only), a key is the token's SHA-256
 * digest. With one (a shared store), a key is an HMAC over the API's origin and the token — so
 * whoever reads the store learns nothing they can test tokens against, and an instance of another
 * environment (other secret, other `apiUrl`) never finds these entries — and each entry carries a
 * MAC over its key, types and expiry, so one written or moved by someone without the secret is
 * recognised and ignored.
 */
export class CacheKeys {
  constructor(
    private readonly secret: string | undefined,
    private readonly apiOrigin: string,
  ) {}

  /** The key of `accessToken`'s entries. */
  keyOf(accessToken: string): string {
    if (this.secret === undefined) return tokenDigest(accessToken);
    return createHmac('sha256', this.secret)
      .update(`key\0${this.apiOrigin}\0${accessToken}`)
      .digest('base64url');
  }

  /** The MAC an entry under `key` with these types and expiry must carry. */
  macOf(key: string, authTypes: readonly number[], expiresAt: number): string {
    if (this.secret === undefined) throw new Error('CacheKeys: signing entries needs a secret');
    return createHmac('sha256', this.secret)
      .update(`entry\0${key}\0${authTypes.join(',')}\0${expiresAt}`)
      .digest('base64url');
  }

  /** True when `mac` is the MAC of an entry under `key` with these types and expiry. */
  verify(key: string, authTypes: readonly number[], expiresAt: number, mac: string): boolean {
    const expected = Buffer.from(this.macOf(key, authTypes, expiresAt));
    const given = Buffer.from(mac);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
