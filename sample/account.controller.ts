import {
  BadGatewayException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpException,
  Post,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import {
  HyperIdAccessDeniedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  RequireTwoFactor,
  TwoFactorService,
  TwoFactorType,
  TwoFactorTypes,
  type TwoFactorTypesResponseDto,
} from 'nestjs-hyperid';

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
  getAccount(@TwoFactorTypes() types: TwoFactorType[]) {
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
   * any method gets `[]`). Shows how to map the service's errors when not using the guard.
   */
  @Get('me/2fa')
  async getMyTwoFactor(@Headers('authorization') authorization?: string): Promise<TwoFactorTypesResponseDto> {
    const token = /^Bearer +(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedException('A bearer token is required');
    try {
      return await this.twoFactor.getAvailableTypes(token);
    } catch (error) {
      throw toHttpException(error);
    }
  }
}

function toHttpException(error: unknown): HttpException {
  if (error instanceof HyperIdTokenInvalidError || error instanceof HyperIdTokenExpiredError) {
    return new UnauthorizedException(error.message);
  }
  if (error instanceof HyperIdAccessDeniedError) return new ForbiddenException(error.message);
  if (error instanceof HyperIdServiceUnavailableError) return new ServiceUnavailableException(error.message);
  return new BadGatewayException('HyperID gave an unexpected answer');
}
