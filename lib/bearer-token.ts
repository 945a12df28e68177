import { Strategy as PassportBearerStrategy } from 'passport-http-bearer';

type VerifyFunction = (token: string, done: (error: unknown, user?: unknown) => void) => void;
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

// passport-http-bearer's own parsing, given only the header: a token in the body or the query
// string is never read (RFC 6750 §2.1 only).
const strategy = new PassportBearerStrategy<VerifyFunction>((token, done) => done(null, token));

const MALFORMED: BearerCredentials = Object.freeze({ kind: 'malformed' });
const MISSING: BearerCredentials = Object.freeze({ kind: 'missing' });

// One parser for every request: authenticate() runs synchronously (so does the verify callback
// above), so its outcome is read back before any other request can use it.
let outcome: BearerCredentials = MALFORMED;
const parser = Object.create(strategy) as PassportBearerStrategy<VerifyFunction> & {
  success: (user: unknown) => void;
  fail: (challenge?: unknown) => void;
  error: (err: unknown) => void;
};
parser.success = (token) => {
  outcome = isWellFormedAccessToken(token) ? { kind: 'token', token } : MALFORMED;
};
// With the Bearer scheme present, every failure means the credentials are malformed.
parser.fail = () => {
  outcome = MALFORMED;
};
parser.error = parser.fail;

/** Reads the bearer token of a request's `Authorization` header per RFC 6750. */
export function readBearerCredentials(authorization: unknown): BearerCredentials {
  if (typeof authorization !== 'string' || authorization.length === 0) return MISSING;
  const space = authorization.indexOf(' ');
  const scheme = space === -1 ? authorization : authorization.slice(0, space);
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return MISSING;
  // RFC 6750 allows one or more spaces after the scheme; passport-http-bearer splits on exactly one.
  const header =
    authorization.charCodeAt(space + 1) === 32 ? authorization.replace(/^(\S+) +/, '$1 ') : authorization;
  if (header.length > MAX_TOKEN_LENGTH + scheme.length + 1) return MALFORMED;

  outcome = MALFORMED;
  parser.authenticate({ headers: { authorization: header } } as unknown as Parameters<
    PassportBearerStrategy<VerifyFunction>['authenticate']
  >[0]);
  return outcome;
}
