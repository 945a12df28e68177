// The whole public API of nestjs-hyperid. Curated by hand: anything not listed here is private.

export { HyperIdModule } from './hyperid.module.js';
export type { HyperIdModuleExtras, HyperIdOptionsFactory } from './hyperid.module-definition.js';
export type {
  CachedTwoFactorTypes,
  HyperIdCacheOptions,
  HyperIdCircuitBreakerOptions,
  HyperIdModuleOptions,
  HyperIdStepUpOptions,
  HyperIdTokenExtractor,
  TwoFactorCacheStore,
} from './interfaces/index.js';

export {
  CacheManagerTwoFactorStore,
  type CacheManagerLike,
  type CacheManagerTwoFactorStoreOptions,
} from './cache/index.js';

export { TwoFactorService } from './two-factor.service.js';
export { TwoFactorTypesResponseDto } from './dto/index.js';

export { TwoFactorGuard } from './two-factor.guard.js';
export { RequireTwoFactor, SkipTwoFactor } from './require-two-factor.decorator.js';
export { TwoFactorTypes } from './two-factor-types.decorator.js';
export type { TwoFactorRequirement, TwoFactorRequirementOptions } from './two-factor.metadata.js';
export {
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
  type TwoFactorRequiredBody,
} from './two-factor.exceptions.js';

export {
  HyperIdHealthIndicator,
  type HyperIdCircuitState,
  type HyperIdHealthIndicatorResult,
} from './hyperid.health.js';

export { TwoFactorType } from './two-factor-type.enum.js';
export { HyperIdResult } from './hyperid-result.enum.js';
export {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';
