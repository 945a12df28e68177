import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from '../interfaces/two-factor-cache-store.interface.js';
import { withTimeout } from './with-timeout.js';

/**
 * The methods of a `cache-manager` v7 `Cache` (what `@nestjs/cache-manager` injects as
 * `CACHE_MANAGER`) that the adapter uses. Declared here rather than imported so that neither the
 * package nor its type declarations need `cache-manager`: any object with these methods fits.
 */
export interface CacheManagerLike {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttl?: number): Promise<unknown>;
  del(key: string): Promise<unknown>;
}

/** Options of {@link CacheManagerTwoFactorStore}. */
export interface CacheManagerTwoFactorStoreOptions {
  /** Put before every key, to keep the entries apart from the app's own. Default `'hyperid:2fa:'`. */
  keyPrefix?: string;
  /**
   * Longest wait for one read or write, in milliseconds; past it the operation counts as failed, so
   * the lookup goes to HyperID. Default 500. It bounds clients that park commands while the store
   * is unreachable (e.g. a Redis client's offline queue) instead of failing them.
   */
  timeoutMs?: number;
}

const DEFAULT_KEY_PREFIX = 'hyperid:2fa:';
const DEFAULT_TIMEOUT_MS = 500;

/**
 * A {@link TwoFactorCacheStore} over a `@nestjs/cache-manager` cache (cache-manager v7 / Keyv), so
 * several instances of an app share HyperID's answers through e.g. Redis (`@keyv/redis`).
 *
 * ```ts
 * HyperIdModule.forRootAsync({
 *   imports: [CacheModule.register({ stores: [new Keyv({ store: new KeyvRedis(url) })] })],
 *   inject: [CACHE_MANAGER, ConfigService],
 *   useFactory: (cache: Cache, config: ConfigService) => ({
 *     cache: { store: new CacheManagerTwoFactorStore(cache), secret: config.getOrThrow('HYPERID_CACHE_SECRET') },
 *   }),
 * })
 * ```
 *
 * Keys are HMACs of tokens (the cache never sees a token); values are plain JSON carrying their
 * own MAC, checked by the module before any use. Errors and timeouts are passed on as
 * rejections, which the module turns into a call to HyperID.
 */
export class CacheManagerTwoFactorStore implements TwoFactorCacheStore {
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly cache: CacheManagerLike,
    options: CacheManagerTwoFactorStoreOptions = {},
  ) {
    const { keyPrefix = DEFAULT_KEY_PREFIX, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
    if (typeof keyPrefix !== 'string') {
      throw new TypeError('CacheManagerTwoFactorStore: keyPrefix must be a string');
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError('CacheManagerTwoFactorStore: timeoutMs must be a positive number of milliseconds');
    }
    this.keyPrefix = keyPrefix;
    this.timeoutMs = timeoutMs;
  }

  /** The entry under `key`, as the cache holds it (the module validates it before any use). */
  async get(key: string): Promise<CachedTwoFactorTypes | undefined> {
    return this.bounded('read', this.cache.get<CachedTwoFactorTypes>(this.keyPrefix + key));
  }

  /** Keeps `value` under `key` for `ttlMs` milliseconds. */
  async set(key: string, value: CachedTwoFactorTypes, ttlMs: number): Promise<void> {
    await this.bounded('write', this.cache.set(this.keyPrefix + key, value, ttlMs));
  }

  /** Drops the entry under `key`. */
  async delete(key: string): Promise<void> {
    await this.bounded('delete', this.cache.del(this.keyPrefix + key));
  }

  private bounded<T>(operation: string, pending: Promise<T>): Promise<T> {
    return withTimeout(pending, this.timeoutMs, `cache ${operation}`);
  }
}
