import { Reflector } from '@nestjs/core';
import type { TwoFactorType } from './two-factor-type.enum.js';

/** `'all'`: every type a requirement names is needed; `'any'`: one of them is enough. */
export type TwoFactorMode = 'all' | 'any';

/** A requirement in its normal form: the types it names and whether all or any are needed. */
export interface TwoFactorRequirement {
  /** `'all'`: every type in `types`; `'any'`: at least one of them. */
  mode: TwoFactorMode;
  /** The types the requirement names. */
  types: readonly TwoFactorType[];
}

/** `@RequireTwoFactor({ anyOf })` or `@RequireTwoFactor({ allOf })`. */
export type TwoFactorRequirementOptions = { anyOf: TwoFactorType[] } | { allOf: TwoFactorType[] };

/**
 * Route metadata: a requirement, or `false` where `@SkipTwoFactor()` exempts a route. One key for
 * both, so the method's word overrides the class's whichever it is.
 */
export const TwoFactorMetadata = Reflector.createDecorator<TwoFactorRequirement | false>();
