import { expect } from '@jest/globals';
import { HyperIdResult } from '../../lib/index.js';

// What a guarded route answers in each situation: the table of README "Errors and status codes",
// with the challenges of RFC 6750 §3 and Retry-After of RFC 9110 §10.2.3. Suites take their
// expectations from here, so that changing one answer is a change to this file only.

/** The answer of a guarded route in one situation. */
export interface ExpectedAnswer {
  status: number;
  /** `error` of the JSON body: the HTTP status's name. */
  error: string;
  /** `WWW-Authenticate`: its value, a pattern of it, or null when the answer has none. */
  wwwAuthenticate: string | RegExp | null;
  /** `Retry-After`: a pattern of its value, or null when the answer has none. */
  retryAfter: RegExp | null;
  /** `message` of the JSON body where it never varies (also the challenge's error_description). */
  message?: string;
  /** `Retry-After` when nothing tells a better time (no 429 Retry-After, no circuit to wait for). */
  defaultRetryAfter?: string;
}

/** The bare challenge: no credentials were given (RFC 6750 §3.1: no error code). */
const BARE_CHALLENGE = 'Bearer realm="hyperid"';
/** Retry-After in delay-seconds, at least 1. */
const DELAY_SECONDS = /^[1-9]\d*$/;

export const STATUS_TABLE = {
  /** No Authorization header, another scheme, or a token without a scheme. */
  noCredentials: {
    status: 401,
    error: 'Unauthorized',
    wwwAuthenticate: BARE_CHALLENGE,
    retryAfter: null,
  },
  /** `Bearer` with no token, several tokens, or a token outside b64token syntax or over 8 KiB. */
  malformedToken: {
    status: 400,
    error: 'Bad Request',
    wwwAuthenticate: 'Bearer realm="hyperid", error="invalid_request"',
    retryAfter: null,
  },
  /** HyperID answers `TokenInvalid` (also any token it does not know). */
  tokenInvalid: {
    status: 401,
    error: 'Unauthorized',
    wwwAuthenticate: /^Bearer realm="hyperid", error="invalid_token", error_description="[^"\\]+"$/,
    retryAfter: null,
    message: 'The access token is invalid',
  },
  /** HyperID answers `TokenExpired`, or a JWT-shaped token's `exp` has passed. */
  tokenExpired: {
    status: 401,
    error: 'Unauthorized',
    wwwAuthenticate: /^Bearer realm="hyperid", error="invalid_token", error_description="[^"\\]+"$/,
    retryAfter: null,
    message: 'The access token has expired',
  },
  /** HyperID answers `AccessDenied`: the token lacks the scope the endpoint needs. */
  accessDenied: {
    status: 403,
    error: 'Forbidden',
    wwwAuthenticate: 'Bearer realm="hyperid", error="insufficient_scope", scope="second-factor-auth-client"',
    retryAfter: null,
  },
  /** The user lacks the required 2FA methods; the body names `mode`, `required` and `missing`. */
  lackingMethods: {
    status: 403,
    error: 'Forbidden',
    wwwAuthenticate: null,
    retryAfter: null,
  },
  /** The same with the `stepUp` option (RFC 9470): a challenge to authenticate again. */
  stepUp: {
    status: 401,
    error: 'Unauthorized',
    wwwAuthenticate:
      /^Bearer realm="hyperid", error="insufficient_user_authentication", error_description="[^"]+"/,
    retryAfter: null,
  },
  /**
   * HyperID is unavailable: `ServiceTemporarilyUnavailable`, a timeout, a refused or reset
   * connection, 5xx or 429, or the circuit is open.
   */
  unavailable: {
    status: 503,
    error: 'Service Unavailable',
    wwwAuthenticate: null,
    retryAfter: DELAY_SECONDS,
    defaultRetryAfter: '1',
  },
  /**
   * HyperID answers something unusable: `InvalidParameters`, an unknown code, non-JSON, wrong
   * types, a redirect or more than 64 KiB.
   */
  badUpstream: {
    status: 502,
    error: 'Bad Gateway',
    wwwAuthenticate: null,
    retryAfter: null,
  },
} satisfies Record<string, ExpectedAnswer>;

/** The answer to each failure code HyperID documents; any other code is `badUpstream`. */
export const ANSWER_FOR_RESULT: ReadonlyMap<number, ExpectedAnswer> = new Map<HyperIdResult, ExpectedAnswer>([
  // In this order: the property suites draw codes from these keys, so it is part of their seeds.
  [HyperIdResult.ServiceTemporarilyUnavailable, STATUS_TABLE.unavailable],
  [HyperIdResult.InvalidParameters, STATUS_TABLE.badUpstream],
  [HyperIdResult.AccessDenied, STATUS_TABLE.accessDenied],
  [HyperIdResult.TokenExpired, STATUS_TABLE.tokenExpired],
  [HyperIdResult.TokenInvalid, STATUS_TABLE.tokenInvalid],
]);

/** The JSON body of `answer` (for `toEqual`), with `extra` fields such as `mode`, `required`, `missing`. */
export function errorBody(
  answer: ExpectedAnswer,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { statusCode: answer.status, message: expect.any(String), error: answer.error, ...extra };
}

/** Expects a header to be `expected`: that value, a value matching that pattern, or absent (null). */
export function expectHeader(
  actual: string | string[] | null | undefined,
  expected: string | RegExp | null,
): void {
  if (expected === null) expect(actual ?? undefined).toBeUndefined();
  else if (typeof expected === 'string') expect(actual).toBe(expected);
  else expect(actual).toMatch(expected);
}

/**
 * Expects `res` (from supertest) to be `answer` in full: its status, both headers (present as the
 * table says, or absent) and its JSON body.
 */
export function expectAnswer(
  res: { status: number; headers: Record<string, string | undefined>; body: unknown },
  answer: ExpectedAnswer,
): void {
  expect(res.status).toBe(answer.status);
  expectHeader(res.headers['www-authenticate'], answer.wwwAuthenticate);
  expectHeader(res.headers['retry-after'], answer.retryAfter);
  expect(res.body).toEqual(errorBody(answer));
}
