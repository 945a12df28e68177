import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpExchangeOf, verifiedTypesOf } from './hyperid.context.js';
import type { TwoFactorType } from './two-factor-type.enum.js';

/**
 * Parameter decorator: the 2FA methods of the caller's user, as the guard verified them on this
 * request (unknown values included as numbers); undefined on a route without a requirement.
 *
 * ```ts
 * @Get('account') @RequireTwoFactor()
 * account(@VerifiedTwoFactorTypes() types: TwoFactorType[]) { ... }
 * ```
 */
export const VerifiedTwoFactorTypes = createParamDecorator(
  (_data: unknown, context: ExecutionContext): TwoFactorType[] | undefined => {
    const types = verifiedTypesOf(httpExchangeOf(context)?.request);
    return types ? ([...types] as TwoFactorType[]) : undefined;
  },
);

/**
 * The former name of {@link VerifiedTwoFactorTypes}, one letter away from the `TwoFactorType`
 * enum.
 * @deprecated Use `@VerifiedTwoFactorTypes()`; this alias goes in the next minor version.
 */
export const TwoFactorTypes = VerifiedTwoFactorTypes;
