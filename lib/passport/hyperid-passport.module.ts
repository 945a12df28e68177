import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { HyperIdAuthGuard } from './hyperid-auth.guard.js';
import { HyperIdBearerStrategy } from './hyperid-bearer.strategy.js';

/**
 * Registers the `'hyperid'` passport strategy. Needs `HyperIdModule.forRoot({ isGlobal: true })`
 * (the strategy injects `TwoFactorService`); with a non-global `HyperIdModule`, list
 * `HyperIdBearerStrategy` in the providers of a module that imports it instead.
 */
@Module({
  imports: [PassportModule],
  providers: [HyperIdBearerStrategy, HyperIdAuthGuard],
  exports: [PassportModule, HyperIdBearerStrategy, HyperIdAuthGuard],
})
export class HyperIdPassportModule {}
