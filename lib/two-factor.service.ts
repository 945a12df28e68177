import { Inject, Injectable } from '@nestjs/common';
import { isWellFormedAccessToken } from './bearer-token.js';
import { readJwtExpiry } from './cache/jwt-expiry.js';
import { TwoFactorCache } from './cache/two-factor.cache.js';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import { HyperIdClient } from './hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS } from './hyperid.constants.js';
import { HyperIdTokenExpiredError, HyperIdTokenInvalidError } from './hyperid.errors.js';
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

  constructor(
    private readonly client: HyperIdClient,
    @Inject(HYPERID_RESOLVED_OPTIONS) options: ResolvedHyperIdOptions,
  ) {
    if (options.cache) {
      this.cache = new TwoFactorCache(options.cache.ttlMs, options.cache.maxEntries, options.cache.store);
    }
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
    const authTypes = await this.resolveTypes(accessToken);
    // A fresh DTO per call: callers may change what they get without touching the cache.
    return Object.assign(new TwoFactorTypesResponseDto(), {
      result: HyperIdResult.Success,
      auth_types: [...authTypes],
    });
  }

  /**
   * The user's 2FA methods, synchronously when memory holds them (the guard's hot path), else a
   * promise; rejects like {@link getAvailableTypes}. The array may be the cache's own: never change it.
   * @internal
   */
  resolveTypes(accessToken: string): readonly number[] | Promise<readonly number[]> {
    if (!isWellFormedAccessToken(accessToken)) {
      return Promise.reject(
        new HyperIdTokenInvalidError('The access token is not a well-formed bearer token'),
      );
    }
    return this.cache?.peek(accessToken) ?? this.lookUp(accessToken);
  }

  /** Not in memory: refuse a JWT past its `exp`, else ask the shared store or HyperID. */
  private async lookUp(accessToken: string): Promise<readonly number[]> {
    const notAfter = readJwtExpiry(accessToken);
    if (notAfter !== undefined && notAfter <= Date.now()) {
      throw new HyperIdTokenExpiredError('The access token has expired (its exp claim has passed)');
    }
    return this.cache
      ? this.cache.get(accessToken, (token) => this.load(token), notAfter)
      : this.load(accessToken);
  }

  private async load(accessToken: string): Promise<number[]> {
    const answer = await this.client.fetchTwoFactorTypes(accessToken);
    return answer.auth_types;
  }
}
