import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { TwoFactorType } from './two-factor-type.enum.js';

/** `'all'`: every type a requirement names is needed; `'any'`: one of them is enough. */
export type TwoFactorMode = 'all' | 'any';

/**
 * Whether a requirement is applied: `'enforce'` refuses callers who do not meet it; `'report'`
 * lets every caller through and only records the refusals it would have made (see the docs'
 * "Rollout" page). Report mode is not protection.
 */
export type TwoFactorEnforcement = 'enforce' | 'report';

const ENFORCEMENTS: readonly unknown[] = ['enforce', 'report'] satisfies TwoFactorEnforcement[];

/** Whether `value` is a {@link TwoFactorEnforcement}: the one check of the decorator and the module option. */
export function isTwoFactorEnforcement(value: unknown): value is TwoFactorEnforcement {
  return ENFORCEMENTS.includes(value);
}

/**
 * Decides, per request, whether a requirement applies (e.g. only above an amount). Only `false`
 * exempts the request, without calling HyperID; any other answer applies the requirement, and so
 * does a throw or a rejection (fail closed, the error's class logged).
 */
export type TwoFactorCondition = (context: ExecutionContext) => boolean | Promise<boolean>;

/** A requirement in its normal form: the types it names and whether all or any are needed. */
export interface TwoFactorRequirement {
  /** `'all'`: every type in `types`; `'any'`: at least one of them. */
  mode: TwoFactorMode;
  /** The types the requirement names. */
  types: readonly TwoFactorType[];
  /** When set, the requirement applies only to the requests it does not answer `false` for. */
  when?: TwoFactorCondition;
  /** When set, overrides the module's `enforce` option for this requirement. */
  enforce?: TwoFactorEnforcement;
}

/** What `@RequireTwoFactor({ anyOf })` and `@RequireTwoFactor({ allOf })` take beside the types. */
export interface TwoFactorRequirementSettings {
  /** Applies the requirement only to requests this does not answer `false` for. */
  when?: TwoFactorCondition;
  /** `'report'` records refusals instead of making them; default: the module's `enforce` option. */
  enforce?: TwoFactorEnforcement;
}

/** `@RequireTwoFactor({ anyOf })` or `@RequireTwoFactor({ allOf })`, with optional settings. */
export type TwoFactorRequirementOptions =
  | ({ anyOf: TwoFactorType[] } & TwoFactorRequirementSettings)
  | ({ allOf: TwoFactorType[] } & TwoFactorRequirementSettings);

/**
 * Route metadata: a requirement, or `false` where `@SkipTwoFactor()` exempts a route. One key for
 * both, so the method's word overrides the class's whichever it is.
 */
export const TwoFactorMetadata = Reflector.createDecorator<TwoFactorRequirement | false>();
