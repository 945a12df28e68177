import { Controller, Delete, Get, Headers, Post, UnauthorizedException, UseFilters } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import {
  HyperIdExceptionFilter,
  TwoFactorService,
  TwoFactorType,
  VerifiedTwoFactorTypes,
  type TwoFactorTypesResponseDto,
} from 'nestjs-hyperid';
// The root's RequireTwoFactor, plus the OpenAPI documentation of each route it guards (at /docs).
import { RequireTwoFactor } from 'nestjs-hyperid/swagger';

@Controller()
export class AccountController {
  constructor(private readonly twoFactor: TwoFactorService) {}

  /** No requirement: never calls HyperID. */
  @Get('public')
  getPublic() {
    return { message: 'Anyone can read this.' };
  }

  /** At least one 2FA method enabled. */
  @Get('account')
  @RequireTwoFactor()
  getAccount(@VerifiedTwoFactorTypes() types: TwoFactorType[]) {
    return { account: 'demo', twoFactorTypes: types };
  }

  /** The HyperID authenticator app enabled. */
  @Post('transfers')
  @RequireTwoFactor(TwoFactorType.HyperIdAuthenticator)
  createTransfer() {
    return { transfer: 'accepted' };
  }

  /** Both TOTP and an alternative e-mail enabled. */
  @Delete('account')
  @RequireTwoFactor({ allOf: [TwoFactorType.Totp, TwoFactorType.AlternativeEmail] })
  deleteAccount() {
    return { account: 'deleted' };
  }

  /**
   * The caller's 2FA methods, straight from `TwoFactorService` (no requirement, so a user without
   * any method gets `[]`). `HyperIdExceptionFilter` answers the service's errors as the guard
   * would, `WWW-Authenticate` and `Retry-After` included.
   */
  @Get('me/2fa')
  @ApiBearerAuth()
  @UseFilters(HyperIdExceptionFilter)
  async getMyTwoFactor(@Headers('authorization') authorization?: string): Promise<TwoFactorTypesResponseDto> {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedException('A bearer token is required');
    return this.twoFactor.getAvailableTypes(token);
  }
}
