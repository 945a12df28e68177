import { MAX_AUTH_TYPES } from '../hyperid.constants.js';
import { ArrayMaxSize, IsArray, IsIn, IsInt } from 'class-validator';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { TwoFactorType } from '../two-factor-type.enum.js';

/**
 * HyperID's answer to `POST /2fa/types/get`, validated. Field names mirror the wire.
 * A DTO that `TwoFactorService` returns always has `result === HyperIdResult.Success`; every
 * other outcome is a `HyperIdError`.
 */
export class TwoFactorTypesResponseDto {
  /** HyperID's result code; always `HyperIdResult.Success` on a returned DTO. */
  @IsInt()
  @IsIn([HyperIdResult.Success])
  result!: HyperIdResult;

  /**
   * The user's enabled 2FA methods. Values this package does not know are kept as plain numbers
   * (forward compatible); they never satisfy a requirement.
   */
  @IsArray()
  @ArrayMaxSize(MAX_AUTH_TYPES)
  @IsInt({ each: true })
  auth_types!: TwoFactorType[];
}
