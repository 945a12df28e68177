export type {
  HyperIdCacheOptions,
  HyperIdCircuitBreakerOptions,
  HyperIdEnrollmentUrl,
  HyperIdModuleOptions,
  HyperIdSkipIf,
  HyperIdStepUpOptions,
  HyperIdTokenExtractor,
  HyperIdWouldRefuseHook,
  TwoFactorRefusalReason,
  TwoFactorWouldRefuseEvent,
} from './hyperid-module-options.interface.js';
export type { CachedTwoFactorTypes, TwoFactorCacheStore } from './two-factor-cache-store.interface.js';
