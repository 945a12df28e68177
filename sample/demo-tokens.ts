import type { FakeTokenAnswer } from 'nestjs-hyperid/testing';

/**
 * The access tokens the embedded fake HyperID knows when `HYPERID_API_URL` is unset, and what it
 * answers for each. A real HyperID only accepts real access tokens.
 */
export const DEMO_TOKENS = {
  /** Every 2FA method: authenticator app (0), TOTP (1), SMS (2), alternative e-mail (3). */
  'demo-all': { auth_types: [0, 1, 2, 3] },
  /** TOTP only. */
  'demo-totp': { auth_types: [1] },
  /** A user without any 2FA method. */
  'demo-none': { auth_types: [] },
  /** HyperID answers result -4 (token expired). */
  'demo-expired': { result: -4 },
  /** HyperID answers result -5 (token invalid). */
  'demo-invalid': { result: -5 },
  /** HyperID answers result -3 (access denied: the token lacks the second-factor-auth-client scope). */
  'demo-noscope': { result: -3 },
} as const satisfies Record<string, FakeTokenAnswer>;

export type DemoToken = keyof typeof DEMO_TOKENS;
