import { HyperIdResult } from 'nestjs-hyperid';
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
  /** HyperID answers that the token has expired. */
  'demo-expired': { result: HyperIdResult.TokenExpired },
  /** HyperID answers that the token is invalid. */
  'demo-invalid': { result: HyperIdResult.TokenInvalid },
  /** HyperID answers access denied: the token lacks the second-factor-auth-client scope. */
  'demo-noscope': { result: HyperIdResult.AccessDenied },
} as const satisfies Record<string, FakeTokenAnswer>;

export type DemoToken = keyof typeof DEMO_TOKENS;
