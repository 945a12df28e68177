import {
  Controller,
  Delete,
  Get,
  Headers,
  Post,
  UnauthorizedException,
  UseFilters,
  type ExecutionContext,
} from '@nestjs/common';
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

/** Transfers up to this amount need no 2FA. */
export const TRANSFER_2FA_LIMIT = 1000;

/** False (no 2FA needed) only for an amount that is surely small. */
function isLargeTransfer(context: ExecutionContext): boolean {
  const amount = context.switchToHttp().getRequest<{ body?: { amount?: unknown } }>().body?.amount;
  return !(typeof amount === 'number' && amount >= 0 && amount <= TRANSFER_2FA_LIMIT);
}

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

  /**
   * The HyperID authenticator app enabled, for transfers over 1000 only (docs/rollout.md): the
   * condition reads the raw body (guards run before validation), so an amount it cannot be sure of
   * requires 2FA too.
   */
  @Post('transfers')
  @RequireTwoFactor({ allOf: [TwoFactorType.HyperIdAuthenticator], when: isLargeTransfer })
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
