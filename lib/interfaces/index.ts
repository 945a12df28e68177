export type {
  HyperIdCacheOptions,
  HyperIdCircuitBreakerOptions,
  HyperIdModuleOptions,
  HyperIdSkipIf,
  HyperIdStepUpOptions,
  HyperIdTokenExtractor,
} from './hyperid-module-options.interface.js';
export type { CachedTwoFactorTypes, TwoFactorCacheStore } from './two-factor-cache-store.interface.js';
