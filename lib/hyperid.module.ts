import { HttpModule } from '@nestjs/axios';
import { Module } from '@nestjs/common';
import { HyperIdClient } from './hyperid.client.js';
import { HYPERID_RESOLVED_OPTIONS } from './hyperid.constants.js';
import { ConfigurableHyperIdModule, HYPERID_MODULE_OPTIONS } from './hyperid.module-definition.js';
import { resolveHyperIdOptions } from './hyperid.options.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import { TwoFactorService } from './two-factor.service.js';

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
  imports: [HttpModule.register({})],
  providers: [
    {
      provide: HYPERID_RESOLVED_OPTIONS,
      useFactory: resolveHyperIdOptions,
      inject: [HYPERID_MODULE_OPTIONS],
    },
    HyperIdClient,
    TwoFactorService,
    TwoFactorGuard,
  ],
  exports: [TwoFactorService, TwoFactorGuard, HYPERID_RESOLVED_OPTIONS],
})
export class HyperIdModule extends ConfigurableHyperIdModule {}
