import { UseGuards, applyDecorators } from '@nestjs/common';
import { KNOWN_TWO_FACTOR_TYPES, TwoFactorType, isKnownTwoFactorType } from './two-factor-type.enum.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import {
  isTwoFactorEnforcement,
  TwoFactorMetadata,
  type TwoFactorCondition,
  type TwoFactorRequirement,
  type TwoFactorRequirementOptions,
  type TwoFactorRequirementSettings,
} from './two-factor.metadata.js';

function checkedTypes(types: readonly unknown[], form: string): TwoFactorType[] {
  if (types.length === 0) throw new TypeError(`@RequireTwoFactor(${form}) needs at least one TwoFactorType`);
  for (const type of types) {
    if (!isKnownTwoFactorType(type)) {
      throw new TypeError(`@RequireTwoFactor(${form}): ${String(type)} is not a TwoFactorType`);
    }
  }
  return [...new Set(types as TwoFactorType[])];
}

const OPTION_KEYS = new Set(['anyOf', 'allOf', 'when', 'enforce']);

/** The `when` and `enforce` settings of an options object, checked; absent ones stay absent. */
function checkedSettings(options: Record<string, unknown>): TwoFactorRequirementSettings {
  const settings: TwoFactorRequirementSettings = {};
  if (options.when !== undefined) {
    if (typeof options.when !== 'function') {
      throw new TypeError('@RequireTwoFactor(): when must be a function (context) => boolean');
    }
    settings.when = options.when as TwoFactorCondition;
  }
  if (options.enforce !== undefined) {
    if (!isTwoFactorEnforcement(options.enforce)) {
      throw new TypeError(`@RequireTwoFactor(): enforce must be 'enforce' or 'report'`);
    }
    settings.enforce = options.enforce;
  }
  return settings;
}

/** Turns the decorator's arguments into a {@link TwoFactorRequirement}; throws on misuse. */
export function toTwoFactorRequirement(
  args: readonly TwoFactorType[] | readonly [TwoFactorRequirementOptions],
): TwoFactorRequirement {
  if (args.length === 0) return { mode: 'any', types: KNOWN_TWO_FACTOR_TYPES };
  const [first] = args;
  if (typeof first === 'object' && first !== null) {
    if (args.length > 1) throw new TypeError('@RequireTwoFactor({ anyOf | allOf }) takes one argument');
    const options = first as Partial<{ anyOf: unknown; allOf: unknown }>;
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.has(key)) {
        throw new TypeError(
          `@RequireTwoFactor(): unknown option "${key}" (expected ${[...OPTION_KEYS].join(', ')})`,
        );
      }
    }
    if ('anyOf' in options === 'allOf' in options) {
      throw new TypeError(
        '@RequireTwoFactor() takes { anyOf: [...] } or { allOf: [...] }, not both or neither',
      );
    }
    const list = options.anyOf ?? options.allOf;
    if (!Array.isArray(list)) throw new TypeError('@RequireTwoFactor(): anyOf / allOf must be an array');
    const mode = 'anyOf' in options ? 'any' : 'all';
    return {
      mode,
      types: Object.freeze(checkedTypes(list, `{ ${mode}Of }`)),
      ...checkedSettings(options),
    };
  }
  return { mode: 'all', types: Object.freeze(checkedTypes(args, '...types')) };
}

/**
 * Requires the caller's HyperID user to have 2FA methods enabled; applies {@link TwoFactorGuard}.
 * On a class it covers every route; on a method it overrides the class's requirement.
 *
 * - `@RequireTwoFactor()`: at least one 2FA method.
 * - `@RequireTwoFactor(TwoFactorType.Totp, ...)`: every listed method.
 * - `@RequireTwoFactor({ anyOf: [...] })`: at least one of the listed methods.
 * - `@RequireTwoFactor({ allOf: [...] })`: every listed method.
 *
 * The object forms also take `when` (the requirement applies only to requests it does not answer
 * `false` for) and `enforce: 'report'` (record refusals instead of making them, for a rollout).
 */
export function RequireTwoFactor(...types: TwoFactorType[]): ClassDecorator & MethodDecorator;
export function RequireTwoFactor(options: TwoFactorRequirementOptions): ClassDecorator & MethodDecorator;
export function RequireTwoFactor(
  ...args: TwoFactorType[] | [TwoFactorRequirementOptions]
): ClassDecorator & MethodDecorator {
  return applyDecorators(TwoFactorMetadata(toTwoFactorRequirement(args)), UseGuards(TwoFactorGuard));
}

/** Exempts a route of a class decorated with `@RequireTwoFactor()` (or of a global guard). */
export function SkipTwoFactor(): ClassDecorator & MethodDecorator {
  return TwoFactorMetadata(false);
}
