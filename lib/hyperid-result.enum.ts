/**
 * The `result` field of HyperID's answers to `POST /2fa/types/get`.
 *
 * HyperID's page for the endpoint lists the failures in this order: invalid token, expired token,
 * access denied, service temporarily unavailable, invalid request parameters; its number column
 * did not survive. The values come from HyperID's generic REST result enum, which has the same
 * meanings in the same order (`fail_by_invalid_token = -1` … `fail_by_invalid_parameters = -5`, as
 * in the vendor's NestJS sandbox demo and its SDK). HyperID's MFA-client pages (another API) use
 * the reverse order: do not take them.
 *
 * This is the only place that holds these numbers; everything else names the members.
 */
export enum HyperIdResult {
  /** The request succeeded. */
  Success = 0,
  /** The access token is not valid. */
  TokenInvalid = -1,
  /** The access token has expired. */
  TokenExpired = -2,
  /** Access denied, e.g. the token lacks the `second-factor-auth-client` scope. */
  AccessDenied = -3,
  /** HyperID is temporarily unavailable; worth retrying later. */
  ServiceTemporarilyUnavailable = -4,
  /** HyperID rejected the request's parameters. */
  InvalidParameters = -5,
}
