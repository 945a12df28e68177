import { ForbiddenException } from '@nestjs/common';
import type { TwoFactorType } from './two-factor-type.enum.js';

/** What the 403 body of a missing 2FA requirement carries, beside Nest's usual fields. */
export interface TwoFactorRequiredBody {
  statusCode: 403;
  message: string;
  error: 'Forbidden';
  /** `'all'`: every type in `required` is needed; `'any'`: one of them is enough. */
  mode: 'all' | 'any';
  /** The types the route's requirement names. */
  required: TwoFactorType[];
  /** The required types the user has not enabled. */
  missing: TwoFactorType[];
}

/**
 * Thrown by `TwoFactorGuard` when the caller's user lacks the 2FA methods a route requires.
 * Answered 403 with `mode`, `required` and `missing` in the body.
 */
export class TwoFactorRequiredException extends ForbiddenException {
  constructor(
    /** `'all'` or `'any'`, as the requirement says. */
    readonly mode: 'all' | 'any',
    /** The types the route's requirement names. */
    readonly required: readonly TwoFactorType[],
    /** The required types the user has not enabled. */
    readonly missing: readonly TwoFactorType[],
  ) {
    const body: TwoFactorRequiredBody = {
      statusCode: 403,
      message:
        mode === 'all'
          ? 'Two-factor authentication required: enable every required method'
          : 'Two-factor authentication required: enable one of the required methods',
      error: 'Forbidden',
      mode,
      required: [...required],
      missing: [...missing],
    };
    super(body);
  }
}
