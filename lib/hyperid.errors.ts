import { HyperIdResult } from './hyperid-result.enum.js';

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

/** HyperID says the token is not valid (result -5). The guard answers 401 `invalid_token`. */
export class HyperIdTokenInvalidError extends HyperIdError {
  constructor(message = 'HyperID rejected the access token as invalid', result?: HyperIdResult) {
    super(message, result);
  }
}

/** HyperID says the token has expired (result -4). The guard answers 401 `invalid_token`. */
export class HyperIdTokenExpiredError extends HyperIdError {
  constructor(message = 'The access token has expired', result?: HyperIdResult) {
    super(message, result);
  }
}

/**
 * HyperID denied access (result -3), typically because the token lacks the
 * `second-factor-auth-client` scope. The guard answers 403 `insufficient_scope`.
 */
export class HyperIdAccessDeniedError extends HyperIdError {
  constructor(message = 'HyperID denied access: is the second-factor-auth-client scope granted?') {
    super(message, HyperIdResult.AccessDenied);
  }
}

/**
 * HyperID could not be used right now: result -1, a timeout, a network error, an HTTP 5xx or an
 * open circuit breaker. The guard answers 503 with `Retry-After`.
 */
export class HyperIdServiceUnavailableError extends HyperIdError {
  /** Seconds after which trying again makes sense (the breaker's probe time when it is open). */
  readonly retryAfterSeconds: number;

  constructor(message: string, options: { result?: HyperIdResult; retryAfterSeconds?: number } = {}) {
    super(message, options.result);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** HyperID rejected the request's parameters (result -2). The guard answers 502. */
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
