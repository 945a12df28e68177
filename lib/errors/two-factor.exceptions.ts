import { ForbiddenException, UnauthorizedException } from '@nestjs/common';
import type { TwoFactorMode } from '../two-factor.metadata.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';

/** What the body of a missing 2FA requirement carries, beside Nest's usual fields. */
export interface TwoFactorRequiredBody {
  /** 403, or 401 with the `stepUp` option. */
  statusCode: 403 | 401;
  message: string;
  error: 'Forbidden' | 'Unauthorized';
  /** `'all'`: every type in `required` is needed; `'any'`: one of them is enough. */
  mode: TwoFactorMode;
  /** The types the route's requirement names. */
  required: TwoFactorType[];
  /** The required types the user has not enabled. */
  missing: TwoFactorType[];
  /** Where the user can enable them, when the module's `enrollmentUrl` option is set. */
  enrollment_url?: string;
}

/**
 * Thrown by `TwoFactorGuard` when the caller's user lacks the 2FA methods a route requires.
 * Answered 403 with `mode`, `required` and `missing` in the body.
 */
export class TwoFactorRequiredException extends ForbiddenException {
  constructor(
    /** `'all'` or `'any'`, as the requirement says. */
    readonly mode: TwoFactorMode,
    /** The types the route's requirement names. */
    readonly required: readonly TwoFactorType[],
    /** The required types the user has not enabled. */
    readonly missing: readonly TwoFactorType[],
    /** Where the user can enable them; in the body as `enrollment_url` when given. */
    readonly enrollmentUrl?: string,
  ) {
    super(requiredBody(403, mode, required, missing, enrollmentUrl));
  }
}

/**
 * Thrown instead of {@link TwoFactorRequiredException} when the `stepUp` option is set: answered
 * 401 with an RFC 9470 `insufficient_user_authentication` challenge and the same body fields.
 */
export class TwoFactorStepUpRequiredException extends UnauthorizedException {
  constructor(
    readonly mode: TwoFactorMode,
    readonly required: readonly TwoFactorType[],
    readonly missing: readonly TwoFactorType[],
    readonly enrollmentUrl?: string,
  ) {
    super(requiredBody(401, mode, required, missing, enrollmentUrl));
  }
}

function requiredBody(
  statusCode: 401 | 403,
  mode: TwoFactorMode,
  required: readonly TwoFactorType[],
  missing: readonly TwoFactorType[],
  enrollmentUrl: string | undefined,
): TwoFactorRequiredBody {
  const body: TwoFactorRequiredBody = {
    statusCode,
    message:
      mode === 'all'
        ? 'Two-factor authentication required: enable every required method'
        : 'Two-factor authentication required: enable one of the required methods',
    error: statusCode === 403 ? 'Forbidden' : 'Unauthorized',
    mode,
    required: [...required],
    missing: [...missing],
  };
  if (enrollmentUrl !== undefined) body.enrollment_url = enrollmentUrl;
  return body;
}
