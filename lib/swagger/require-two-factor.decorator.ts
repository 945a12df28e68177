import { RequireTwoFactor as requireTwoFactor } from '../require-two-factor.decorator.js';
import type { TwoFactorRequirementOptions } from '../two-factor.metadata.js';
import type { TwoFactorType } from '../two-factor-type.enum.js';
import { documentRoutesWhenDecorated, documentWhenDecorated } from './two-factor-operation.js';

/** Options of {@link createRequireTwoFactor}. */
export interface HyperIdSwaggerOptions {
  /**
   * Name of the bearer security scheme the operations require, as registered with
   * `new DocumentBuilder().addBearerAuth(options, name)`. Default `'bearer'`, the name
   * `addBearerAuth()` gives it.
   */
  securityName?: string;
}

/** `@RequireTwoFactor()` of `nestjs-hyperid/swagger`: the root's four forms, documented. */
export interface DocumentedRequireTwoFactor {
  (...types: TwoFactorType[]): ClassDecorator & MethodDecorator;
  (options: TwoFactorRequirementOptions): ClassDecorator & MethodDecorator;
}

const DEFAULT_SECURITY_NAME = 'bearer';

/**
 * A `RequireTwoFactor` decorator whose operations require the security scheme `securityName`.
 * Call it once in a file of your own and import that decorator in your controllers:
 * `export const RequireTwoFactor = createRequireTwoFactor({ securityName: 'hyperid' });`.
 */
export function createRequireTwoFactor(options: HyperIdSwaggerOptions = {}): DocumentedRequireTwoFactor {
  for (const key of Object.keys(options)) {
    if (key !== 'securityName') throw new TypeError(`createRequireTwoFactor(): unknown option "${key}"`);
  }
  const securityName = options.securityName ?? DEFAULT_SECURITY_NAME;
  if (typeof securityName !== 'string' || securityName.trim() === '') {
    throw new TypeError('createRequireTwoFactor(): securityName must be a non-empty string');
  }
  return (...args: TwoFactorType[] | [TwoFactorRequirementOptions]): ClassDecorator & MethodDecorator => {
    // Checks the arguments at once, as the root decorator does.
    const guarded = requireTwoFactor(...(args as TwoFactorType[]));
    return (target: object, key?: string | symbol, descriptor?: PropertyDescriptor) => {
      if (key === undefined || descriptor === undefined) {
        guarded(target as () => unknown);
        documentRoutesWhenDecorated(target as abstract new () => unknown, securityName);
        return;
      }
      guarded(target, key, descriptor);
      documentWhenDecorated(target, key, securityName);
    };
  };
}

/**
 * Requires the caller's HyperID user to have 2FA methods enabled, applies `TwoFactorGuard` — as
 * `RequireTwoFactor` of `nestjs-hyperid` — and documents the route for `@nestjs/swagger`: the
 * `bearer` security requirement, the 400, 401, 403, 502 and 503 answers, and the
 * `x-hyperid-2fa` extension `{ mode, required }`.
 *
 * On a class it covers (and documents) every route the class declares, except those with
 * `@SkipTwoFactor()`; a method's own requirement overrides the class's. See docs/openapi.md.
 *
 * - `@RequireTwoFactor()`: at least one 2FA method.
 * - `@RequireTwoFactor(TwoFactorType.Totp, ...)`: every listed method.
 * - `@RequireTwoFactor({ anyOf: [...] })`: at least one of the listed methods.
 * - `@RequireTwoFactor({ allOf: [...] })`: every listed method.
 */
export const RequireTwoFactor: DocumentedRequireTwoFactor = createRequireTwoFactor();
