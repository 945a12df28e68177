/** Default base URL of HyperID's API. */
export const DEFAULT_API_URL = 'https://api.hypersecureid.com';
/** Path of the endpoint that lists a user's 2FA methods. */
export const TWO_FACTOR_TYPES_PATH = '/2fa/types/get';
/** The scope HyperID requires for that endpoint; named in `insufficient_scope` challenges. */
export const REQUIRED_SCOPE = 'second-factor-auth-client';
/** The realm of every `WWW-Authenticate` challenge the guard sends. */
export const AUTH_REALM = 'hyperid';
/** Context of every log line the module writes. */
export const LOGGER_CONTEXT = 'HyperIdModule';

/** Largest HyperID answer accepted, in bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Largest access token accepted, in characters (longer ones are refused before calling HyperID). */
export const MAX_TOKEN_LENGTH = 8 * 1024;

/** Most 2FA types kept from one answer (HyperID knows four; the rest is room to grow, not to flood). */
export const MAX_AUTH_TYPES = 256;
/** Shortest `cache.secret` accepted, in characters. */
export const MIN_CACHE_SECRET_LENGTH = 32;
/** A `cache.ttlMs` above this is allowed but warned about: revocations go unseen that long. */
export const LONG_CACHE_TTL_MS = 5 * 60_000;
/**
 * Least time between two warnings of one kind that requests can cause (a shared-store entry that
 * fails its check, a refusal report mode lets through): a flood of them must not flood the logs.
 */
export const WARNING_LOG_INTERVAL_MS = 60_000;

export const DEFAULTS = Object.freeze({
  timeoutMs: 5000,
  retries: 2,
  cacheTtlMs: 30_000,
  cacheMaxEntries: 10_000,
  /** How long a refusal of a token (invalid, expired, access denied) is remembered. */
  negativeTtlMs: 10_000,
  /** Lookups that may wait for a free slot when `maxSockets` calls are already running. */
  bulkheadQueue: 1000,
  breakerThreshold: 5,
  breakerHalfOpenAfterMs: 10_000,
  maxSockets: 64,
  /** Retry-After sent with a 503 when no better estimate is known, in seconds. */
  retryAfterSeconds: 1,
});

/** Injection token of the validated, defaulted options. */
export const HYPERID_RESOLVED_OPTIONS = Symbol('hyperid:resolved-options');

// Request properties the package writes: symbols, so they never clash with the app's own.

/**
 * Where the guard leaves the verified answer on the request (a `TwoFactorAnswer`: the token's key,
 * the user's 2FA methods and their expiry), for `@VerifiedTwoFactorTypes()` and later checks of the same
 * request. A later check reuses it only for the same token and before it expires: a long-lived
 * request object (a GraphQL subscription's) must not keep a stale answer.
 */
export const VERIFIED_TWO_FACTOR_TYPES = Symbol('hyperid:verified-two-factor-types');

/**
 * Where the guard leaves a lookup still in flight (`{ key, lookup }`), so concurrent checks of one
 * request share it. Removed once it settles.
 */
export const PENDING_TWO_FACTOR_LOOKUP = Symbol('hyperid:pending-two-factor-lookup');

/** Where the strategy leaves the headers of its error answers, for {@link HyperIdAuthGuard} to send. */
export const PENDING_HEADERS = Symbol('hyperid:pending-headers');
