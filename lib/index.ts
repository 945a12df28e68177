// The whole public API of nestjs-hyperid. Curated by hand: anything not listed here is private.

export { HyperIdModule } from './hyperid.module.js';
export type { HyperIdModuleExtras, HyperIdOptionsFactory } from './hyperid.module-definition.js';
export type { ResolvedHyperIdOptions } from './hyperid.options.js';
export type {
  CachedTwoFactorTypes,
  HyperIdCacheOptions,
  HyperIdCircuitBreakerOptions,
  HyperIdEnrollmentUrl,
  HyperIdModuleOptions,
  HyperIdSkipIf,
  HyperIdStepUpOptions,
  HyperIdTokenExtractor,
  HyperIdWouldRefuseHook,
  TwoFactorCacheStore,
  TwoFactorRefusalReason,
  TwoFactorWouldRefuseEvent,
} from './interfaces/index.js';

export {
  CacheManagerTwoFactorStore,
  type CacheManagerLike,
  type CacheManagerTwoFactorStoreOptions,
} from './cache/index.js';

export { TwoFactorService } from './two-factor.service.js';
export { TwoFactorTypesResponseDto } from './dto/index.js';
export { HyperIdClient } from './client/hyperid.client.js';
export type { HyperIdCircuitState } from './client/hyperid.resilience.js';
export type { HyperIdCallOutcome } from './hyperid.telemetry.js';

export { TwoFactorGuard } from './two-factor.guard.js';
export type { HttpExchange } from './hyperid.context.js';
export { RequireTwoFactor, SkipTwoFactor } from './require-two-factor.decorator.js';
export { TwoFactorTypes, VerifiedTwoFactorTypes } from './verified-two-factor-types.decorator.js';
export type {
  TwoFactorCondition,
  TwoFactorEnforcement,
  TwoFactorMode,
  TwoFactorRequirement,
  TwoFactorRequirementOptions,
  TwoFactorRequirementSettings,
} from './two-factor.metadata.js';

export { keepUpgradeRequests, type TwoFactorWsError } from './websocket/index.js';

export { HyperIdHealthIndicator, type HyperIdHealthIndicatorResult } from './hyperid.health.js';

export { TwoFactorType } from './two-factor-type.enum.js';
export { HyperIdResult } from './hyperid-result.enum.js';
export {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdExceptionFilter,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
  toHttpException,
  type SetHeader,
  type TwoFactorRequiredBody,
} from './errors/index.js';
