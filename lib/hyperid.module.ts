import { HttpModule } from '@nestjs/axios';
import { Logger, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { GraphqlFieldResolversCheck } from './graphql-field-resolvers.check.js';
import { HttpHyperIdClient } from './client/http-hyperid.client.js';
import { HyperIdClient } from './client/hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS, LOGGER_CONTEXT } from './hyperid.constants.js';
import { ConfigurableHyperIdModule, HYPERID_MODULE_OPTIONS } from './hyperid.module-definition.js';
import { ReportModeCheck } from './report-mode.check.js';
import { optionWarnings, resolveHyperIdOptions, type ResolvedHyperIdOptions } from './hyperid.options.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import { TwoFactorService } from './two-factor.service.js';

/** Validates the options (a bad one stops the app) and warns about unwise ones. */
function resolveAtBoot(options: HyperIdModuleOptions): ResolvedHyperIdOptions {
  const resolved = resolveHyperIdOptions(options);
  const logger = new Logger(LOGGER_CONTEXT);
  for (const warning of optionWarnings(resolved)) logger.warn(warning);
  return resolved;
}

/**
 * HyperID two-factor authentication for a Nest app.
 *
 * ```ts
 * HyperIdModule.forRoot({ isGlobal: true })
 * HyperIdModule.forRootAsync({ isGlobal: true, inject: [ConfigService], useFactory: (c) => ({ apiUrl: c.get('HYPERID_URL') }) })
 * ```
 *
 * Options are validated when the app boots; a bad one stops it with a message naming the option.
 */
@Module({
  // A private axios instance: interceptors an app adds to its own HttpModule never see tokens.
  imports: [HttpModule.register({}), DiscoveryModule],
  providers: [
    {
      provide: HYPERID_RESOLVED_OPTIONS,
      useFactory: resolveAtBoot,
      inject: [HYPERID_MODULE_OPTIONS],
    },
    { provide: HyperIdClient, useClass: HttpHyperIdClient },
    TwoFactorService,
    TwoFactorGuard,
    GraphqlFieldResolversCheck,
    ReportModeCheck,
  ],
  exports: [TwoFactorService, TwoFactorGuard, HYPERID_RESOLVED_OPTIONS],
})
export class HyperIdModule extends ConfigurableHyperIdModule {}
