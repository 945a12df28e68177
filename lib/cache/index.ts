export { TwoFactorCache } from './two-factor.cache.js';
export {
  CacheManagerTwoFactorStore,
  type CacheManagerLike,
  type CacheManagerTwoFactorStoreOptions,
} from './cache-manager.store.js';
export { readJwtExpiry } from './jwt-expiry.js';
export { tokenDigest } from './token-digest.js';
