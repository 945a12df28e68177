import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { HyperIdClient } from '../client/hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS } from '../hyperid.constants.js';
import { resolveHyperIdOptions } from '../hyperid.options.js';
import type { HyperIdModuleOptions } from '../interfaces/hyperid-module-options.interface.js';
import {
  HyperIdTestingController,
  InMemoryHyperIdClient,
  type HyperIdTestingAnswer,
} from './in-memory-hyperid.client.js';
import { ReportModeCheck } from '../report-mode.check.js';
import { TwoFactorGuard } from '../two-factor.guard.js';
import { TwoFactorService } from '../two-factor.service.js';

/** Options of {@link HyperIdTestingModule.forRoot}. */
export interface HyperIdTestingModuleOptions extends Pick<
  HyperIdModuleOptions,
  'stepUp' | 'tokenExtractor' | 'skipIf' | 'enforce' | 'onWouldRefuse' | 'enrollmentUrl'
> {
  /** Answers by token. Tokens not listed answer `HyperIdResult.TokenInvalid`. Default: none. */
  tokens?: Record<string, HyperIdTestingAnswer>;
  /** Register the module globally, like `HyperIdModule.forRoot({ isGlobal })`. Default false. */
  isGlobal?: boolean;
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
    const { tokens, isGlobal, ...guardOptions } = options;
    return {
      module: HyperIdTestingModule,
      global: isGlobal === true,
      imports: [DiscoveryModule],
      providers: [
        {
          provide: HYPERID_RESOLVED_OPTIONS,
          useFactory: () =>
            resolveHyperIdOptions({
              cache: false,
              circuitBreaker: false,
              retries: 0,
              ...guardOptions,
            }),
        },
        { provide: HyperIdTestingController, useFactory: () => new HyperIdTestingController(tokens) },
        { provide: HyperIdClient, useClass: InMemoryHyperIdClient },
        TwoFactorService,
        TwoFactorGuard,
        ReportModeCheck,
      ],
      exports: [TwoFactorService, TwoFactorGuard, HYPERID_RESOLVED_OPTIONS, HyperIdTestingController],
    };
  }
}
