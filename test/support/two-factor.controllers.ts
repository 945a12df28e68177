import { Controller, Get } from '@nestjs/common';
import { RequireTwoFactor, SkipTwoFactor, TwoFactorType, TwoFactorTypes } from '../../lib/index.js';

/** One route per form of `@RequireTwoFactor()`, and one without a requirement. */
@Controller('routes')
export class RoutesController {
  @Get('open')
  open() {
    return { ok: true };
  }

  /** Bare: at least one known method. */
  @Get('bare')
  @RequireTwoFactor()
  bare() {
    return { ok: true };
  }

  /** One type, listed: that type. */
  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp() {
    return { ok: true };
  }

  /** Several types, listed: all of them. */
  @Get('listed')
  @RequireTwoFactor(TwoFactorType.HyperIdAuthenticator, TwoFactorType.AlternativeEmail)
  listed() {
    return { ok: true };
  }

  @Get('any-of')
  @RequireTwoFactor({ anyOf: [TwoFactorType.Totp, TwoFactorType.Sms] })
  anyOf() {
    return { ok: true };
  }

  @Get('all-of')
  @RequireTwoFactor({ allOf: [TwoFactorType.Totp, TwoFactorType.Sms] })
  allOf() {
    return { ok: true };
  }

  @Get('types')
  @RequireTwoFactor()
  types(@TwoFactorTypes() types: TwoFactorType[] | undefined) {
    return { types: types ?? null };
  }

  /** No requirement: the param decorator has nothing to hand over. */
  @Get('open-types')
  openTypes(@TwoFactorTypes() types: TwoFactorType[] | undefined) {
    return { types: types ?? null };
  }
}

/** A class-level requirement (SMS) that methods override or skip. */
@Controller('class')
@RequireTwoFactor(TwoFactorType.Sms)
export class ClassGuardedController {
  @Get('inherited')
  inherited() {
    return { ok: true };
  }

  @Get('overridden')
  @RequireTwoFactor(TwoFactorType.Totp)
  overridden() {
    return { ok: true };
  }

  @Get('skipped')
  @SkipTwoFactor()
  skipped() {
    return { ok: true };
  }
}

export const E2E_CONTROLLERS = [RoutesController, ClassGuardedController];
