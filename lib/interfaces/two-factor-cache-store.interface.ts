/** What the cache keeps for one access token: the user's 2FA methods, as HyperID reported them. */
export interface CachedTwoFactorTypes {
  /** The `auth_types` HyperID answered, unknown values included. */
  authTypes: number[];
  /** When the entry stops being valid, in milliseconds since the epoch. */
  expiresAt: number;
  /**
   * HMAC (with `cache.secret`) over the entry's key, types and expiry: an entry written or changed
   * by anyone without the secret, or moved under another key, fails the check and is ignored.
   */
  mac: string;
}

/**
 * A cache shared by several instances of an app (e.g. Redis through `@nestjs/cache-manager`).
 * Keys are HMACs of access tokens, never the tokens. What the store returns is untrusted input:
 * the module checks every entry's MAC before believing it. Every method may throw or reject: a
 * failing store degrades to asking HyperID, it never lets a request through.
 */
export interface TwoFactorCacheStore {
  /** The entry for `key`, or undefined when there is none. */
  get(key: string): Promise<CachedTwoFactorTypes | undefined>;
  /** Keep `value` under `key` for `ttlMs` milliseconds. */
  set(key: string, value: CachedTwoFactorTypes, ttlMs: number): Promise<void>;
  /** Drop the entry for `key` (used by `TwoFactorService.invalidate()`). Optional. */
  delete?(key: string): Promise<void>;
}
