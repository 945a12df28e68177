import type { TwoFactorCacheStore } from './two-factor-cache-store.interface.js';

/** Cache settings; see {@link HyperIdModuleOptions.cache}. */
export interface HyperIdCacheOptions {
  /** How long a successful answer is reused, in milliseconds. Default 30000; capped by a JWT's `exp`. */
  ttlMs?: number;
  /** How many tokens the in-memory cache holds at most (least recently used go first). Default 10000. */
  maxEntries?: number;
  /** A store shared by several instances, consulted after the in-memory cache. Default: none. */
  store?: TwoFactorCacheStore;
}

/** Circuit-breaker settings; see {@link HyperIdModuleOptions.circuitBreaker}. */
export interface HyperIdCircuitBreakerOptions {
  /** Consecutive transient failures of HyperID calls that open the circuit. Default 5. */
  threshold?: number;
  /** How long the circuit stays open before one probe call is let through, in milliseconds. Default 10000. */
  halfOpenAfterMs?: number;
}

/** Options of `HyperIdModule.forRoot()` / `forRootAsync()`. */
export interface HyperIdModuleOptions {
  /**
   * Base URL of HyperID's API. Default `'https://api.hypersecureid.com'`.
   * `http://` is accepted only for loopback hosts (tests, a local fake HyperID).
   */
  apiUrl?: string;
  /** Timeout of one attempt, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Extra attempts after a transient failure (result -1, HTTP 5xx, network error, timeout). Default 2. */
  retries?: number;
  /**
   * Reuse of successful answers, keyed by a SHA-256 digest of the token. Default: on, in memory.
   * `false`: every request asks HyperID (no cache, no merging of concurrent lookups).
   */
  cache?: false | HyperIdCacheOptions;
  /**
   * Stops calling HyperID while it is failing, answering 503 at once. Default: on, with the
   * defaults of {@link HyperIdCircuitBreakerOptions}. `false` turns it off.
   */
  circuitBreaker?: false | HyperIdCircuitBreakerOptions;
  /** Most sockets kept open to HyperID at once (keep-alive agent). Default 64. */
  maxSockets?: number;
}
