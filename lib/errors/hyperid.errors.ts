import { DEFAULTS } from '../hyperid.constants.js';
import { HyperIdResult } from '../hyperid-result.enum.js';

/**
 * Base class of every failure `TwoFactorService` reports. Messages never contain the access token.
 */
export class HyperIdError extends Error {
  /**
   * The `result` code HyperID answered with, when it answered with one; undefined for timeouts,
   * network errors and malformed answers.
   */
  readonly result?: HyperIdResult;

  constructor(message: string, result?: HyperIdResult) {
    super(message);
    this.name = new.target.name;
    this.result = result;
  }
}

/** HyperID says the token is not valid (`HyperIdResult.TokenInvalid`). The guard answers 401 `invalid_token`. */
export class HyperIdTokenInvalidError extends HyperIdError {
  constructor(message = 'HyperID rejected the access token as invalid', result?: HyperIdResult) {
    super(message, result);
  }
}

/** HyperID says the token has expired (`HyperIdResult.TokenExpired`). The guard answers 401 `invalid_token`. */
export class HyperIdTokenExpiredError extends HyperIdError {
  constructor(message = 'The access token has expired', result?: HyperIdResult) {
    super(message, result);
  }
}

/**
 * HyperID denied access (`HyperIdResult.AccessDenied`), typically because the token lacks the
 * `second-factor-auth-client` scope. The guard answers 403 `insufficient_scope`.
 */
export class HyperIdAccessDeniedError extends HyperIdError {
  constructor(message = 'HyperID denied access: is the second-factor-auth-client scope granted?') {
    super(message, HyperIdResult.AccessDenied);
  }
}

/**
 * HyperID could not be used right now: `HyperIdResult.ServiceTemporarilyUnavailable`, a timeout, a
 * network error or an HTTP 5xx — and, through the subclasses, HTTP 429, an open circuit breaker or
 * a full bulkhead. The guard answers 503 with `Retry-After`.
 */
export class HyperIdServiceUnavailableError extends HyperIdError {
  /** Seconds after which trying again makes sense (the breaker's probe time when it is open). */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { result?: HyperIdResult; retryAfterSeconds?: number } = {}) {
    super(message, options.result);
    this.retryAfterSeconds = options.retryAfterSeconds ?? DEFAULTS.retryAfterSeconds;
  }
}

/**
 * HyperID answered HTTP 429: it asks us to slow down. Not retried (that would only make it worse)
 * and not counted by the circuit breaker; its `Retry-After` is passed on to the client.
 */
export class HyperIdRateLimitedError extends HyperIdServiceUnavailableError {}

/**
 * The circuit breaker is open: HyperID failed too many lookups in a row, so it was not called.
 * `retryAfterSeconds` is the time until the breaker lets a probe through.
 */
export class HyperIdCircuitOpenError extends HyperIdServiceUnavailableError {}

/**
 * Too many HyperID calls were already running or queued (the bulkhead is full), so this lookup was
 * refused at once without calling HyperID. Not counted by the circuit breaker.
 */
export class HyperIdBusyError extends HyperIdServiceUnavailableError {}

/** HyperID rejected the request's parameters (`HyperIdResult.InvalidParameters`). The guard answers 502. */
export class HyperIdInvalidRequestError extends HyperIdError {
  constructor(message = 'HyperID rejected the request parameters') {
    super(message, HyperIdResult.InvalidParameters);
  }
}

/**
 * HyperID's answer was malformed or unexpected: not JSON, the wrong shape, an unknown result
 * code, a redirect, an unexpected HTTP status or a body over the size limit. The guard answers 502.
 */
export class HyperIdUpstreamError extends HyperIdError {}

/**
 * True for failures worth another attempt and counted by the circuit breaker: HyperID itself is
 * failing (unavailable, 5xx, network, timeout). Not 429, not the breaker's or the bulkhead's own
 * refusals, and never an answer about the token.
 */
export function isTransientFailure(error: unknown): boolean {
  return (
    error instanceof HyperIdServiceUnavailableError &&
    !(error instanceof HyperIdRateLimitedError) &&
    !(error instanceof HyperIdCircuitOpenError) &&
    !(error instanceof HyperIdBusyError)
  );
}

/**
 * True for HyperID's definitive refusals of a token (invalid, expired, access denied): the same
 * token will be refused again, so the refusal may be remembered for a while.
 */
export function isTokenRefusal(error: unknown): boolean {
  return (
    error instanceof HyperIdTokenInvalidError ||
    error instanceof HyperIdTokenExpiredError ||
    error instanceof HyperIdAccessDeniedError
  );
}
