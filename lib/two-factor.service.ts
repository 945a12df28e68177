import { Inject, Injectable } from '@nestjs/common';
import { isWellFormedAccessToken } from './bearer-token.js';
import { readJwtExpiry } from './cache/jwt-expiry.js';
import { CacheKeys } from './cache/token-digest.js';
import { TwoFactorCache, type TwoFactorAnswer } from './cache/two-factor.cache.js';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import { HyperIdClient } from './client/hyperid.client.js';
import { DEFAULTS, HYPERID_RESOLVED_OPTIONS } from './hyperid.constants.js';
import { HyperIdTokenExpiredError, HyperIdTokenInvalidError } from './errors/hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';

/**
 * Looks up the 2FA methods a user has enabled, given the user's HyperID access token.
 * Answers are cached by token digest (see the `cache` option) and concurrent lookups of one token
 * share one HyperID call.
 */
@Injectable()
export class TwoFactorService {
  private readonly cache?: TwoFactorCache;
  private readonly keys: CacheKeys;
  private readonly ttlMs: number;

  constructor(
    private readonly client: HyperIdClient,
    @Inject(HYPERID_RESOLVED_OPTIONS) options: ResolvedHyperIdOptions,
  ) {
    this.keys = new CacheKeys(options.cache ? options.cache.secret : undefined, options.apiUrl.origin);
    this.ttlMs = options.cache ? options.cache.ttlMs : DEFAULTS.cacheTtlMs;
    if (options.cache) this.cache = new TwoFactorCache(options.cache, this.keys);
  }

  /**
   * The 2FA methods enabled for the user `accessToken` belongs to (the token needs the
   * `second-factor-auth-client` scope).
   *
   * @throws HyperIdError the subclass for each failure: `HyperIdTokenInvalidError` (also for a
   *   token that is not RFC 6750 syntax, without calling HyperID), `HyperIdTokenExpiredError` (also
   *   for a JWT whose `exp` has passed, without calling HyperID), `HyperIdAccessDeniedError`,
   *   `HyperIdServiceUnavailableError`, `HyperIdInvalidRequestError`, `HyperIdUpstreamError`.
   */
  async getAvailableTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    const answer = await this.resolve(accessToken);
    // A fresh DTO per call: callers may change what they get without touching the cache.
    return Object.assign(new TwoFactorTypesResponseDto(), {
      result: HyperIdResult.Success,
      auth_types: [...answer.authTypes],
    });
  }

  /**
   * Forgets what is known about `accessToken` — its answer or its refusal, in memory and in the
   * shared store — so the next lookup asks HyperID. Call it after a logout, or after the user
   * changed their 2FA methods in your app. Rejects only when the shared store fails to delete.
   */
  async invalidate(accessToken: string): Promise<void> {
    if (typeof accessToken !== 'string' || !this.cache) return;
    await this.cache.invalidate(this.keys.keyOf(accessToken));
  }

  /**
   * The key under which answers about `accessToken` are kept (a digest, never the token): what a
   * request remembers to tell whether a later check is about the same token.
   * @internal
   */
  keyOf(accessToken: string): string {
    return this.keys.keyOf(accessToken);
  }

  /**
   * The answer for `accessToken`, synchronously when memory holds it (the guard's hot path), else
   * a promise; rejects like {@link getAvailableTypes}. Its `authTypes` may be the cache's own:
   * never change them.
   * @internal
   */
  resolve(accessToken: string): TwoFactorAnswer | Promise<TwoFactorAnswer> {
    if (!isWellFormedAccessToken(accessToken)) {
      return Promise.reject(
        new HyperIdTokenInvalidError('The access token is not a well-formed bearer token'),
      );
    }
    return this.resolveWellFormed(accessToken);
  }

  /**
   * {@link resolve} for a token its caller has already found well-formed (the guard and the
   * passport strategy parse it first): the syntax check is not paid twice on the hot path.
   * @internal
   */
  resolveWellFormed(accessToken: string): TwoFactorAnswer | Promise<TwoFactorAnswer> {
    const key = this.keys.keyOf(accessToken);
    return this.cache?.peek(key) ?? this.lookUp(key, accessToken);
  }

  /** Not in memory: refuse a JWT past its `exp`, else ask the cache's other tiers or HyperID. */
  private async lookUp(key: string, accessToken: string): Promise<TwoFactorAnswer> {
    const notAfter = readJwtExpiry(accessToken);
    if (notAfter !== undefined && notAfter <= Date.now()) {
      throw new HyperIdTokenExpiredError('The access token has expired (its exp claim has passed)');
    }
    if (this.cache) return this.cache.get(key, accessToken, this.load, notAfter);
    const authTypes = await this.load(accessToken);
    return { key, authTypes, expiresAt: Math.min(Date.now() + this.ttlMs, notAfter ?? Infinity) };
  }

  private readonly load = async (accessToken: string): Promise<readonly number[]> =>
    (await this.client.fetchTwoFactorTypes(accessToken)).auth_types;
}
