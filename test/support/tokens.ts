import { HyperIdResult } from '../../lib/index.js';
import type { FakeTokenAnswer } from '../../lib/testing/index.js';

/**
 * The users the fake HyperID knows, by role. Each suite prefixes the names (with the adapter and
 * the suite) so that call counts and injected faults never leak from one test into another.
 */
export const USERS = {
  full: { auth_types: [0, 1, 2, 3] },
  none: { auth_types: [] },
  totp: { auth_types: [1] },
  sms: { auth_types: [2] },
  authenticator: { auth_types: [0] },
  authenticatorAndEmail: { auth_types: [0, 3] },
  unknownOnly: { auth_types: [7, 9] },
  emailAndUnknown: { auth_types: [3, 7] },
  invalid: { result: HyperIdResult.TokenInvalid },
  expired: { result: HyperIdResult.TokenExpired },
  denied: { result: HyperIdResult.AccessDenied },
  unavailable: { result: HyperIdResult.ServiceTemporarilyUnavailable },
  badParameters: { result: HyperIdResult.InvalidParameters },
  unknownResult: { result: -99 },
} satisfies Record<string, FakeTokenAnswer>;

export type UserName = keyof typeof USERS;

/** The fake's token table for `prefix`, and a function naming the token of a user. */
export function tokenTable(prefix: string): {
  tokens: Record<string, FakeTokenAnswer>;
  /** Known users are named in {@link USERS}; any other name is a token the fake does not know yet. */
  token: (user: string) => string;
} {
  const token = (user: string) => `${prefix}-${user}`;
  const tokens = Object.fromEntries(Object.entries(USERS).map(([user, answer]) => [token(user), answer]));
  return { tokens, token };
}

/** A JWT-shaped token (unsigned: only its shape and `exp` matter here). */
export function jwtLike(exp: number, subject: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part({ sub: subject, exp })}.c2lnbmF0dXJl`;
}
