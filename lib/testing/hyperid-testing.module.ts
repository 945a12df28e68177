import { Module, type DynamicModule } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import { HyperIdClient, errorForResult } from '../hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS } from '../hyperid.constants.js';
import { resolveHyperIdOptions } from '../hyperid.options.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import type { HyperIdModuleOptions } from '../interfaces/hyperid-module-options.interface.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';
import { TwoFactorGuard } from '../two-factor.guard.js';
import { TwoFactorService } from '../two-factor.service.js';

/**
 * How the in-memory HyperID answers for one token: the user's enabled 2FA methods (unknown
 * numbers allowed, as HyperID may add some), or a non-zero {@link HyperIdResult} that the real
 * client would turn into its `HyperIdError` (e.g. `HyperIdResult.TokenExpired`).
 */
export type HyperIdTestingAnswer = readonly (TwoFactorType | number)[] | HyperIdResult;

/** Options of {@link HyperIdTestingModule.forRoot}. */
export interface HyperIdTestingModuleOptions extends Pick<HyperIdModuleOptions, 'stepUp' | 'tokenExtractor'> {
  /** Answers by token. Tokens not listed answer `HyperIdResult.TokenInvalid`. Default: none. */
  tokens?: Record<string, HyperIdTestingAnswer>;
  /** Register the module globally, like `HyperIdModule.forRoot({ isGlobal })`. Default false. */
  isGlobal?: boolean;
}

/**
 * The in-memory HyperID behind {@link HyperIdTestingModule}: inject it in a test to change answers
 * at run time and to count lookups. Each compiled testing module gets its own instance.
 */
export class HyperIdTestingController {
  private readonly answers = new Map<string, HyperIdTestingAnswer>();
  private readonly counts = new Map<string, number>();
  private total = 0;

  /** @param tokens the initial answers by token, as in {@link HyperIdTestingModuleOptions.tokens}. */
  constructor(tokens: Record<string, HyperIdTestingAnswer> = {}) {
    for (const [token, answer] of Object.entries(tokens)) this.setToken(token, answer);
  }

  /** Sets (or replaces) the answer for `token`; takes effect on the next request (nothing is cached). */
  setToken(token: string, answer: HyperIdTestingAnswer): this {
    if (answer === HyperIdResult.Success) {
      throw new TypeError(
        'HyperIdTestingController: give the 2FA methods as an array for a successful answer',
      );
    }
    this.answers.set(token, typeof answer === 'number' ? answer : Object.freeze([...answer]));
    return this;
  }

  /** Forgets `token`: it answers `HyperIdResult.TokenInvalid` again. */
  removeToken(token: string): this {
    this.answers.delete(token);
    return this;
  }

  /** Lookups that reached the in-memory HyperID for `token`, or for every token when omitted. */
  calls(token?: string): number {
    return token === undefined ? this.total : (this.counts.get(token) ?? 0);
  }

  /** Sets every call count back to zero. */
  resetCalls(): this {
    this.counts.clear();
    this.total = 0;
    return this;
  }

  /**
   * Answers a lookup as HyperID would: the DTO of a success, or the `HyperIdError` the real client
   * throws for the result code. Used by the in-memory client; tests rarely call it themselves.
   */
  answer(token: string): TwoFactorTypesResponseDto {
    this.total += 1;
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    const answer = this.answers.get(token) ?? HyperIdResult.TokenInvalid;
    if (typeof answer === 'number') throw errorForResult(answer);
    return plainToInstance(TwoFactorTypesResponseDto, {
      result: HyperIdResult.Success,
      auth_types: [...answer],
    });
  }
}

/** Stands in for the package's HTTP client: same methods the service and health indicator use, no network. */
class InMemoryHyperIdClient {
  /** No circuit breaker in memory. */
  readonly policy = { circuitState: 'disabled' as const, onCircuitStateChange: () => () => undefined };

  constructor(private readonly controller: HyperIdTestingController) {}

  fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    return Promise.resolve().then(() => this.controller.answer(accessToken));
  }

  probe(): Promise<{ result: number }> {
    return Promise.resolve({ result: HyperIdResult.TokenInvalid });
  }
}

/**
 * `HyperIdModule` for tests: the real `TwoFactorService`, `TwoFactorGuard` and decorators, backed
 * by an in-memory HyperID instead of HTTP. No server, no network, no cache (every request is a
 * lookup, so {@link HyperIdTestingController.calls} counts requests and answer changes apply at once).
 *
 * ```ts
 * Test.createTestingModule({
 *   imports: [HyperIdTestingModule.forRoot({ tokens: { 'token-a': [TwoFactorType.Totp], 'token-x': HyperIdResult.TokenExpired } })],
 *   controllers: [AccountController],
 * })
 * ```
 *
 * To swap it into an app module, keep the app's `HyperIdModule.forRoot(...)` in an exported
 * constant and use `.overrideModule(thatConstant).useModule(HyperIdTestingModule.forRoot(...))`
 * (Nest matches the very object the app imports).
 */
@Module({})
export class HyperIdTestingModule {
  /** The testing module with the given answers; see {@link HyperIdTestingModuleOptions}. */
  static forRoot(options: HyperIdTestingModuleOptions = {}): DynamicModule {
    const { tokens, isGlobal, stepUp, tokenExtractor } = options;
    return {
      module: HyperIdTestingModule,
      global: isGlobal === true,
      providers: [
        {
          provide: HYPERID_RESOLVED_OPTIONS,
          useFactory: () =>
            resolveHyperIdOptions({
              cache: false,
              circuitBreaker: false,
              retries: 0,
              stepUp,
              tokenExtractor,
            }),
        },
        { provide: HyperIdTestingController, useFactory: () => new HyperIdTestingController(tokens) },
        {
          provide: HyperIdClient,
          useFactory: (controller: HyperIdTestingController) => new InMemoryHyperIdClient(controller),
          inject: [HyperIdTestingController],
        },
        TwoFactorService,
        TwoFactorGuard,
      ],
      exports: [TwoFactorService, TwoFactorGuard, HYPERID_RESOLVED_OPTIONS, HyperIdTestingController],
    };
  }
}
