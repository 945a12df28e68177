/**
 * The `result` field of HyperID's answers (the same values across HyperID's APIs, per the
 * vendor's table).
 */
export enum HyperIdResult {
  /** The request succeeded. */
  Success = 0,
  /** HyperID is temporarily unavailable; worth retrying later. */
  ServiceTemporarilyUnavailable = -1,
  /** HyperID rejected the request's parameters. */
  InvalidParameters = -2,
  /** Access denied, e.g. the token lacks the `second-factor-auth-client` scope. */
  AccessDenied = -3,
  /** The access token has expired. */
  TokenExpired = -4,
  /** The access token is not valid. */
  TokenInvalid = -5,
}
