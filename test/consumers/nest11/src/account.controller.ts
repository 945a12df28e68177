import { Controller, Get } from '@nestjs/common';
import { RequireTwoFactor, TwoFactorType, TwoFactorTypes } from 'nestjs-hyperid';

@Controller('account')
export class AccountController {
  @Get('public')
  public(): { ok: boolean } {
    return { ok: true };
  }

  @Get('security')
  @RequireTwoFactor(TwoFactorType.Totp)
  security(@TwoFactorTypes() types: TwoFactorType[]): { types: TwoFactorType[] } {
    return { types };
  }
}
