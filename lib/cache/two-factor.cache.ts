import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { LOGGER_CONTEXT, MAX_AUTH_TYPES } from '../hyperid.constants.js';
import { type HyperIdError, isTokenRefusal } from '../errors/hyperid.errors.js';
import type { ResolvedHyperIdOptions } from '../hyperid.options.js';
import { recordCacheLookup } from '../hyperid.telemetry.js';
import { ThrottledWarnings } from '../throttled-warnings.js';
import type {
  CachedTwoFactorTypes,
  TwoFactorCacheStore,
} from '../interfaces/two-factor-cache-store.interface.js';
import type { CacheKeys } from './token-digest.js';
import { withTimeout } from './with-timeout.js';

/** One user's answer as the module keeps it: under `key`, valid until `expiresAt`. */
export interface TwoFactorAnswer {
  /** The cache key of the token the answer is about (never the token). */
  readonly key: string;
  /** The user's 2FA methods, unknown values included. Shared: never change it. */
  readonly authTypes: readonly number[];
  /** When the answer stops being valid, in milliseconds since the epoch. */
  readonly expiresAt: number;
}

/** Asks HyperID about one token. */
export type TwoFactorLoader = (accessToken: string) => Promise<readonly number[]>;

/**
 * Longest wait for the shared store's answer: a store that never answers must not hold a lookup
 * (and every request of that token, which joins it) forever. Past it, HyperID is asked.
 */
const STORE_READ_TIMEOUT_MS = 1000;

type CacheOptions = Exclude<ResolvedHyperIdOptions['cache'], false>;

/**
 * HyperID's answers by token key, in three places that never share room:
 *
 * - successes, in an LRU of `maxEntries`, optionally backed by a shared store;
 * - refusals of a token (invalid, expired, access denied), in an LRU of their own, for
 *   `negativeTtlMs`: a flood of junk tokens evicts other junk, never a user's answer;
 * - lookups in flight, in a map, so concurrent lookups of one token share one HyperID call.
 *   Entries leave it when the lookup settles (each lookup is bounded by the client's deadline).
 *
 * HyperID's unavailability is never kept anywhere.
 */
export class TwoFactorCache {
  private readonly logger = new Logger(LOGGER_CONTEXT);
  private readonly answers: LRUCache<string, TwoFactorAnswer>;
  private readonly refusals?: LRUCache<string, HyperIdError>;
  private readonly inFlight = new Map<string, Promise<TwoFactorAnswer>>();
  private readonly store?: TwoFactorCacheStore;
  private readonly warnings = new ThrottledWarnings(this.logger);

  constructor(
    private readonly options: CacheOptions,
    private readonly keys: CacheKeys,
  ) {
    // Expired entries are dropped when read, and count against `max` until then.
    this.answers = new LRUCache({ max: options.maxEntries, ttl: options.ttlMs, ttlAutopurge: false });
    if (options.negativeTtlMs > 0) {
      this.refusals = new LRUCache({
        max: options.maxEntries,
        ttl: options.negativeTtlMs,
        ttlAutopurge: false,
      });
    }
    this.store = options.store;
  }

  /** How many successful answers are held in memory. */
  get size(): number {
    return this.answers.size;
  }

  /**
   * The live answer under `key` if memory holds one, without waiting: the guard's hot path. An
   * answer never outlives its `expiresAt` (the TTL, capped by the token's `exp`).
   */
  peek(key: string): TwoFactorAnswer | undefined {
    const answer = this.answers.get(key);
    if (answer) recordCacheLookup('hit');
    return answer;
  }

  /**
   * The answer for `accessToken` (under `key`): from memory, from a lookup of the same token in
   * flight, from the shared store, or from `load` — in that order. A remembered refusal is thrown
   * again without calling `load`. `notAfter` (the JWT's `exp`) caps how long anything is kept.
   */
  get(key: string, accessToken: string, load: TwoFactorLoader, notAfter?: number): Promise<TwoFactorAnswer> {
    const answer = this.peek(key);
    if (answer) return Promise.resolve(answer);
    const refusal = this.refusals?.get(key);
    if (refusal) {
      recordCacheLookup('refusal_hit');
      return Promise.reject(refusal);
    }
    const pending = this.inFlight.get(key);
    if (pending) {
      recordCacheLookup('coalesced');
      return pending;
    }
    const lookup: Promise<TwoFactorAnswer> = this.load(key, accessToken, load, notAfter).then(
      ({ answer: loaded, fromHyperId }) => {
        // An invalidate() while the lookup was in flight wins: the answer is served, not kept,
        // neither here nor in the shared store.
        if (this.inFlight.get(key) === lookup) {
          this.inFlight.delete(key);
          this.answers.set(key, loaded, { ttl: Math.max(1, loaded.expiresAt - Date.now()) });
          if (fromHyperId) this.writeStore(loaded);
        }
        return loaded;
      },
      (error: unknown) => {
        if (this.inFlight.get(key) === lookup) {
          this.inFlight.delete(key);
          this.rememberRefusal(key, error, notAfter);
        }
        throw error;
      },
    );
    this.inFlight.set(key, lookup);
    return lookup;
  }

  /** Forgets everything known about the token under `key`, here and in the shared store. */
  async invalidate(key: string): Promise<void> {
    this.forget(key);
    if (!this.store?.delete) return;
    try {
      await this.store.delete(key);
    } catch (error) {
      this.logger.warn(`Shared 2FA cache store failed on delete: ${describe(error)}`);
      throw error;
    } finally {
      // A lookup that read the store before the delete landed may have kept the old entry.
      this.forget(key);
    }
  }

  private forget(key: string): void {
    this.answers.delete(key);
    this.refusals?.delete(key);
    this.inFlight.delete(key);
  }

  private async load(
    key: string,
    accessToken: string,
    load: TwoFactorLoader,
    notAfter: number | undefined,
  ): Promise<{ answer: TwoFactorAnswer; fromHyperId: boolean }> {
    const now = Date.now();
    const notAfterHere = Math.min(now + this.options.ttlMs, notAfter ?? Infinity);
    const shared = await this.readStore(key);
    if (shared) {
      recordCacheLookup('shared_hit');
      const expiresAt = Math.min(shared.expiresAt, notAfterHere);
      return { answer: { key, authTypes: shared.authTypes, expiresAt }, fromHyperId: false };
    }
    recordCacheLookup('miss');
    const authTypes = await load(accessToken);
    return { answer: { key, authTypes, expiresAt: notAfterHere }, fromHyperId: true };
  }

  private rememberRefusal(key: string, error: unknown, notAfter: number | undefined): void {
    if (!this.refusals || !isTokenRefusal(error)) return;
    const ttl = Math.min(this.options.negativeTtlMs, (notAfter ?? Infinity) - Date.now());
    if (ttl > 0) this.refusals.set(key, error as HyperIdError, { ttl });
  }

  /** A live, genuine entry of the shared store, or undefined: anything else there is a miss. */
  private async readStore(key: string): Promise<CachedTwoFactorTypes | undefined> {
    if (!this.store) return undefined;
    let value: unknown;
    try {
      value = await withTimeout(this.store.get(key), STORE_READ_TIMEOUT_MS, 'cache read');
    } catch (error) {
      this.logger.warn(`Shared 2FA cache store failed on read; asking HyperID: ${describe(error)}`);
      return undefined;
    }
    if (value === undefined || value === null) return undefined;
    if (!isWellFormedEntry(value) || !this.keys.verify(key, value.authTypes, value.expiresAt, value.mac)) {
      this.reportRejectedEntry();
      return undefined;
    }
    return value.expiresAt > Date.now() ? value : undefined;
  }

  private writeStore(answer: TwoFactorAnswer): void {
    if (!this.store) return;
    const { key, expiresAt } = answer;
    const authTypes = [...answer.authTypes];
    const report = (error: unknown) =>
      this.logger.warn(`Shared 2FA cache store failed on write: ${describe(error)}`);
    try {
      const entry = { authTypes, expiresAt, mac: this.keys.macOf(key, authTypes, expiresAt) };
      this.store.set(key, entry, Math.max(1, expiresAt - Date.now())).catch(report);
    } catch (error) {
      report(error);
    }
  }

  /**
   * Someone who can write to the store wrote what this instance did not sign (or the instances
   * disagree on the secret). Worth a warning, but a flood of bad entries must not flood the logs.
   */
  private reportRejectedEntry(): void {
    this.warnings.warn('rejected entry', (heldBack) => {
      const ignored = heldBack + 1;
      return (
        `Ignored ${ignored} shared 2FA cache entr${ignored === 1 ? 'y' : 'ies'} ` +
        'that failed the integrity check (tampered, or written with another cache.secret); asked HyperID instead'
      );
    });
  }
}

/** The shape a genuine entry has; what fails it is not even worth checking the MAC of. */
function isWellFormedEntry(value: unknown): value is CachedTwoFactorTypes {
  if (typeof value !== 'object' || value === null) return false;
  const { authTypes, expiresAt, mac } = value as Partial<CachedTwoFactorTypes>;
  return (
    Array.isArray(authTypes) &&
    authTypes.length <= MAX_AUTH_TYPES &&
    authTypes.every((type) => Number.isSafeInteger(type)) &&
    typeof expiresAt === 'number' &&
    Number.isFinite(expiresAt) &&
    typeof mac === 'string'
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
