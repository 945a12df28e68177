/**
 * The 2FA methods HyperID reports in `auth_types`.
 *
 * Source note: HyperID's page for `POST /2fa/types/get` lists the authenticator app, TOTP and
 * alternative e-mail; its 2FA overview lists SMS between TOTP and e-mail, and its example answer
 * is `[0, 3]`. This is the only place the wire values are written down.
 *
 * Values HyperID may add later are kept as plain numbers: they never break parsing and never
 * satisfy a requirement.
 */
export enum TwoFactorType {
  /** HyperID Authenticator app (push approval). */
  HyperIdAuthenticator = 0,
  /** Time-based one-time passwords (RFC 6238). */
  Totp = 1,
  /** One-time code sent by SMS. */
  Sms = 2,
  /** One-time code sent to an alternative e-mail address. */
  AlternativeEmail = 3,
}

/** Every method this version of the package knows, in wire order. */
export const KNOWN_TWO_FACTOR_TYPES: readonly TwoFactorType[] = Object.freeze([
  TwoFactorType.HyperIdAuthenticator,
  TwoFactorType.Totp,
  TwoFactorType.Sms,
  TwoFactorType.AlternativeEmail,
]);

/** True for the values of {@link TwoFactorType}; false for numbers HyperID added later. */
export function isKnownTwoFactorType(value: unknown): value is TwoFactorType {
  return (KNOWN_TWO_FACTOR_TYPES as readonly unknown[]).includes(value);
}
