import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { httpExchangeOf, verifiedTypesOf } from './hyperid.context.js';
import type { TwoFactorType } from './two-factor-type.enum.js';

/**
 * Parameter decorator: the 2FA methods of the caller's user, as verified by the guard on this
 * request (unknown values included as numbers); undefined on a route without a requirement.
 */
export const TwoFactorTypes = createParamDecorator(
  (_data: unknown, context: ExecutionContext): TwoFactorType[] | undefined => {
    const types = verifiedTypesOf(httpExchangeOf(context)?.request);
    return types ? ([...types] as TwoFactorType[]) : undefined;
  },
);
