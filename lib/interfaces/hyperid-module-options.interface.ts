import type { ExecutionContext } from '@nestjs/common';
import type { HyperIdCallOutcome } from '../hyperid.telemetry.js';
import type { TwoFactorEnforcement, TwoFactorMode } from '../two-factor.metadata.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';
import type { TwoFactorCacheStore } from './two-factor-cache-store.interface.js';

/** Cache settings; see {@link HyperIdModuleOptions.cache}. */
export interface HyperIdCacheOptions {
  /** How long a successful answer is reused, in milliseconds. Default 30000; capped by a JWT's `exp`. */
  ttlMs?: number;
  /** How many tokens the in-memory cache holds at most (least recently used go first). Default 10000. */
  maxEntries?: number;
  /**
   * How long a refusal of a token (invalid, expired, access denied) is remembered, in milliseconds,
   * so the same bad token asked again costs no HyperID call. Default 10000; capped by a JWT's `exp`;
   * `0` turns it off. Refusals are kept apart from the successes and never evict them; HyperID's
   * unavailability is never remembered.
   */
  negativeTtlMs?: number;
  /**
   * A store shared by several instances, consulted after the in-memory cache. Default: none.
   * Whatever it holds is untrusted: entries are keyed and signed with `secret`, and one that fails
   * the check is ignored. Requires `secret`.
   */
  store?: TwoFactorCacheStore;
  /**
   * Key of the HMACs that name and sign the shared store's entries: at least 32 characters, the
   * same on every instance that shares the store, from configuration (never a literal in code).
   * Required with `store`. Another secret, or another `apiUrl`, never reads these entries.
   */
  secret?: string;
}

/** Circuit-breaker settings; see {@link HyperIdModuleOptions.circuitBreaker}. */
export interface HyperIdCircuitBreakerOptions {
  /**
   * Consecutive failed lookups (each counted once, after its retries) that open the circuit.
   * Only HyperID's own failures count: refusals of a token, HTTP 429 and lookups refused by the
   * bulkhead never do. Default 5.
   */
  threshold?: number;
  /** How long the circuit stays open before one probe call is let through, in milliseconds. Default 10000. */
  halfOpenAfterMs?: number;
}

/** Step-up settings; see {@link HyperIdModuleOptions.stepUp}. */
export interface HyperIdStepUpOptions {
  /** `acr_values` to put in the RFC 9470 challenge, e.g. `'urn:hyperid:2fa'`. Default: none. */
  acrValues?: string;
  /** `max_age` to put in the RFC 9470 challenge, in seconds. Default: none. */
  maxAgeSeconds?: number;
}

/**
 * Reads the bearer token of a request: returns the token alone (no `Bearer ` prefix), or
 * undefined (or `''`) when there is none. Used in every context when set — HTTP included, e.g. for
 * a token kept in a cookie — and required in contexts the guard cannot read itself
 * (microservices).
 */
export type HyperIdTokenExtractor = (context: ExecutionContext) => string | undefined;

/**
 * Decides that a request skips its 2FA check (e.g. an internal health probe). True skips; a
 * throw or rejection applies the requirement (fail closed).
 */
export type HyperIdSkipIf = (context: ExecutionContext) => boolean | Promise<boolean>;

/**
 * Why the guard refuses (or, in report mode, would refuse) a request: the user lacks required
 * methods, the request carries no token or a malformed one, the context cannot carry one, or the
 * lookup failed (`token_invalid`, `token_expired`, `access_denied`, `invalid_request`,
 * `unavailable`, `rate_limited`, `circuit_open`, `busy`, `upstream_error`).
 */
export type TwoFactorRefusalReason =
  | 'missing_methods'
  | 'no_token'
  | 'malformed_token'
  | 'unsupported_context'
  | Exclude<HyperIdCallOutcome, 'success'>;

/** A refusal the guard would have made, had the requirement not been in report mode. Never the token. */
export interface TwoFactorWouldRefuseEvent {
  /** The handler, as `ControllerName.methodName`: the same for every request of the route. */
  route: string;
  /** Why the request would have been refused. */
  reason: TwoFactorRefusalReason;
  /** The HTTP status the refusal would have had (401, 400, 403, 502 or 503). */
  status: number;
  /** The requirement's mode and types. */
  mode: TwoFactorMode;
  required: readonly TwoFactorType[];
  /** The required types the user has not enabled (`missing_methods` only). */
  missing?: readonly TwoFactorType[];
  /** The call, to read what your reports need (a user id, a tenant) — never log its token. */
  context: ExecutionContext;
}

/** Told of each refusal report mode lets through. A throw or rejection is logged, never answered. */
export type HyperIdWouldRefuseHook = (event: TwoFactorWouldRefuseEvent) => void | Promise<void>;

/**
 * Where a user enables 2FA methods, added as `enrollment_url` to the body of a missing-methods
 * refusal: an absolute `https://` (or loopback `http://`) URL, a path from the app's root such as
 * `'/settings/security'`, or a function of the missing types returning one (or undefined for none).
 */
export type HyperIdEnrollmentUrl = string | ((missing: readonly TwoFactorType[]) => string | undefined);

/** Options of `HyperIdModule.forRoot()` / `forRootAsync()`. */
export interface HyperIdModuleOptions {
  /**
   * Base URL of HyperID's API. Default `'https://api.hypersecureid.com'`, also when the value is
   * `''` (what a blank `.env` entry gives).
   * `http://` is accepted only for loopback hosts (tests, a local fake HyperID).
   */
  apiUrl?: string;
  /** Timeout of one attempt, in milliseconds. Default 5000. */
  timeoutMs?: number;
  /**
   * Extra attempts after a transient failure (`HyperIdResult.ServiceTemporarilyUnavailable`, HTTP
   * 5xx, network error, timeout). HTTP 429 is never retried. Default 2.
   */
  retries?: number;
  /**
   * Reuse of successful answers (and, briefly, of refusals), keyed by a digest of the token, never
   * the token. Default: on, in memory.
   * `false`: every request asks HyperID (no cache, no merging of concurrent lookups).
   */
  cache?: false | HyperIdCacheOptions;
  /**
   * Stops calling HyperID while it is failing, answering 503 at once. Default: on, with the
   * defaults of {@link HyperIdCircuitBreakerOptions}. `false` turns it off.
   */
  circuitBreaker?: false | HyperIdCircuitBreakerOptions;
  /**
   * Most HyperID calls at once, and sockets kept open to it (keep-alive agent). Up to 1000 more
   * lookups wait for a free slot (without their attempt's timeout running); past that, a lookup
   * is answered 503 at once. Default 64.
   */
  maxSockets?: number;
  /**
   * Answer a user who lacks the required 2FA methods with 401 and an RFC 9470
   * `error="insufficient_user_authentication"` challenge, for clients that run step-up flows,
   * instead of 403. Default `false` (403).
   */
  stepUp?: false | HyperIdStepUpOptions;
  /**
   * Reads the token in every context instead of the `Authorization: Bearer` header (and of a
   * WebSocket handshake). Needed for contexts other than HTTP, GraphQL and WebSocket gateways:
   * without it, a guarded handler there is refused (fail closed). Default: none. The guard's
   * `getToken()` hook does the same in a subclass.
   */
  tokenExtractor?: HyperIdTokenExtractor;
  /**
   * Lets some requests of guarded routes through without a check. Default: none. The guard's
   * `shouldSkip()` hook does the same in a subclass.
   */
  skipIf?: HyperIdSkipIf;
  /**
   * `'report'` lets every request of guarded routes through and records each refusal it would
   * have made (a warning log line, the `hyperid.guard.would_refuse` counter, `onWouldRefuse`),
   * HyperID's failures included: for watching a rollout, never for protection. A requirement's
   * own `enforce` overrides it. Default `'enforce'`.
   */
  enforce?: TwoFactorEnforcement;
  /** Told of each refusal report mode lets through. Default: none. */
  onWouldRefuse?: HyperIdWouldRefuseHook;
  /**
   * Where users enable the missing methods: added as `enrollment_url` to missing-methods
   * refusals (the 403, or the step-up 401), never to other answers. Default: none.
   */
  enrollmentUrl?: HyperIdEnrollmentUrl;
}
