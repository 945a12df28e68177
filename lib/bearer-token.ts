import { MAX_TOKEN_LENGTH } from './hyperid.constants.js';

/** RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** True when `value` can be sent to HyperID as a bearer token: RFC 6750 syntax, at most 8 KiB. */
export function isWellFormedAccessToken(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH && B64TOKEN.test(value);
}

/** What the `Authorization` header of a request holds. */
export type BearerCredentials =
  | { kind: 'token'; token: string }
  /** No header, or another scheme: answered 401 with a bare challenge. */
  | { kind: 'missing' }
  /** `Bearer` with no token, a malformed token, or one over 8 KiB: answered 400 `invalid_request`. */
  | { kind: 'malformed' };

const MALFORMED: BearerCredentials = Object.freeze({ kind: 'malformed' });
const MISSING: BearerCredentials = Object.freeze({ kind: 'missing' });

const SCHEME = 'bearer';
const SPACE = 0x20;

/**
 * What follows the `Bearer` scheme (any case) and its spaces in an `Authorization` header, not
 * yet checked; `''` for `Bearer` with nothing after it (or no space before the token); undefined
 * when the header is absent or names another scheme. RFC 6750 §2.1: the header only — a token in
 * the body or the query string is never read. Pure, and linear in the header's length.
 */
export function bearerTokenOf(authorization: unknown): string | undefined {
  if (typeof authorization !== 'string') return undefined;
  const schemeEnd = authorization.indexOf(' ');
  const scheme = schemeEnd === -1 ? authorization : authorization.slice(0, schemeEnd);
  // Another scheme (or "Bearerabc") carries no credentials of ours. The length test only spares
  // lowercasing a long scheme, so dropping it changes no answer:
  // Stryker disable next-line ConditionalExpression: equivalent, a speed-up only
  if (scheme.length !== SCHEME.length || scheme.toLowerCase() !== SCHEME) return undefined;
  let start = SCHEME.length;
  while (authorization.charCodeAt(start) === SPACE) start += 1;
  return authorization.slice(start);
}

/**
 * Judges a token as read from a request: none (answered 401 with a bare challenge), one that is
 * not RFC 6750 `b64token` syntax or over 8 KiB (400 `invalid_request`), or a token to look up.
 */
export function credentialsOf(token: string | undefined): BearerCredentials {
  if (token === undefined) return MISSING;
  return isWellFormedAccessToken(token) ? { kind: 'token', token } : MALFORMED;
}

/** Reads the bearer token of a request's `Authorization` header per RFC 6750 §2.1. */
export function readBearerCredentials(authorization: unknown): BearerCredentials {
  return credentialsOf(bearerTokenOf(authorization));
}
