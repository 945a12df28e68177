export { TwoFactorCache } from './two-factor.cache.js';
export { readJwtExpiry } from './jwt-expiry.js';
export { tokenDigest } from './token-digest.js';
