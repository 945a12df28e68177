import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { LOGGER_CONTEXT } from '../hyperid.constants.js';
import { HyperIdServiceUnavailableError } from '../hyperid.errors.js';
import { recordCacheLookup } from '../hyperid.telemetry.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from '../interfaces/two-factor-cache-store.interface.js';
import { tokenDigest } from './token-digest.js';

interface LoadContext {
  accessToken: string;
  /** The latest moment an answer for this token may be reused (the JWT's `exp`), if known. */
  notAfter?: number;
  load: (accessToken: string) => Promise<number[]>;
}

/** Accepts only well-formed entries from a shared store: whatever is in Redis is untrusted input. */
function isValidEntry(value: unknown): value is CachedTwoFactorTypes {
  if (typeof value !== 'object' || value === null) return false;
  const { authTypes, expiresAt } = value as Partial<CachedTwoFactorTypes>;
  return (
    Array.isArray(authTypes) &&
    authTypes.length <= 256 &&
    authTypes.every((type) => Number.isInteger(type)) &&
    typeof expiresAt === 'number' &&
    Number.isFinite(expiresAt)
  );
}

/**
 * Successful answers by token digest: an LRU in memory whose `fetch()` merges concurrent lookups
 * of one token into one load, optionally backed by a shared store. Failures are never cached.
 */
export class TwoFactorCache {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly lru: LRUCache<string, CachedTwoFactorTypes, LoadContext>;

  constructor(
    private readonly ttlMs: number,
    maxEntries: number,
    private readonly store?: TwoFactorCacheStore,
  ) {
    this.lru = new LRUCache<string, CachedTwoFactorTypes, LoadContext>({
      max: maxEntries,
      ttl: ttlMs,
      // Expired entries are dropped when read, and count against `max` until then.
      ttlAutopurge: false,
      // A lookup whose entry is evicted while in flight still gets its answer (it is just not kept).
      ignoreFetchAbort: true,
      fetchMethod: (key, _stale, { context, options }) => this.load(key, context, options),
    });
  }

  /** How many tokens are held in memory. */
  get size(): number {
    return this.lru.size;
  }

  /**
   * The user's 2FA methods for `accessToken` if memory holds a live answer, without waiting: the
   * guard's hot path. A hit never outlives the token's `exp`, which capped the entry's TTL.
   */
  peek(accessToken: string): readonly number[] | undefined {
    const entry = this.lru.get(tokenDigest(accessToken));
    if (entry) recordCacheLookup('hit');
    return entry?.authTypes;
  }

  /** The user's 2FA methods for `accessToken`, from the cache or from `load` (once per token at a time). */
  async get(
    accessToken: string,
    load: (accessToken: string) => Promise<number[]>,
    notAfter?: number,
  ): Promise<number[]> {
    const status: LRUCache.Status<string, CachedTwoFactorTypes, LoadContext> = {};
    const lookup = this.lru.fetch(tokenDigest(accessToken), {
      context: { accessToken, notAfter, load },
      status,
    });
    // Misses are counted by load(), which knows whether the shared store or HyperID answered.
    if (status.fetch === 'hit') recordCacheLookup('hit');
    else if (status.fetch === 'inflight') recordCacheLookup('coalesced');
    const entry = await lookup;
    // fetch() resolves undefined only when the load was aborted; never treat that as an answer.
    if (!entry) throw new HyperIdServiceUnavailableError('HyperID lookup was aborted');
    return entry.authTypes;
  }

  private async load(
    key: string,
    context: LoadContext,
    options: { ttl?: number },
  ): Promise<CachedTwoFactorTypes> {
    const shared = await this.readStore(key);
    if (shared) {
      recordCacheLookup('shared_hit');
      // Never 0 (lru-cache's "forever") and never longer than our own TTL, whatever the store holds.
      options.ttl = Math.max(1, Math.min(this.ttlMs, shared.expiresAt - Date.now()));
      return shared;
    }
    recordCacheLookup('miss');
    const authTypes = await context.load(context.accessToken);
    const now = Date.now();
    const expiresAt = Math.min(now + this.ttlMs, context.notAfter ?? Infinity);
    const entry = { authTypes, expiresAt };
    options.ttl = Math.max(1, expiresAt - now);
    this.writeStore(key, entry, options.ttl);
    return entry;
  }

  private async readStore(key: string): Promise<CachedTwoFactorTypes | undefined> {
    if (!this.store) return undefined;
    try {
      const value = await this.store.get(key);
      return isValidEntry(value) && value.expiresAt > Date.now() ? value : undefined;
    } catch (error) {
      this.logger.warn(`Shared 2FA cache store failed on read; asking HyperID: ${describe(error)}`);
      return undefined;
    }
  }

  private writeStore(key: string, entry: CachedTwoFactorTypes, ttlMs: number): void {
    if (!this.store) return;
    const report = (error: unknown) =>
      this.logger.warn(`Shared 2FA cache store failed on write: ${describe(error)}`);
    try {
      this.store.set(key, entry, ttlMs).catch(report);
    } catch (error) {
      report(error);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
