import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  HttpException,
  ServiceUnavailableException,
  UnauthorizedException,
  type Logger,
} from '@nestjs/common';
import { REQUIRED_SCOPE } from './hyperid.constants.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
} from './hyperid.errors.js';
import { bearerChallenge } from './www-authenticate.js';

/** Sets one header of the answer being built (through the HTTP adapter, so any platform works). */
export type SetHeader = (name: string, value: string) => void;

/**
 * The answers of SPEC §3, shared by `TwoFactorGuard` and the passport strategy so that both
 * answer a failed lookup the same way. Each sets its headers through `setHeader` and returns the
 * exception to throw.
 */

/**
 * Credentials that cannot be looked up: no `Authorization` header or another scheme (401 with a
 * bare challenge); `Bearer` with no token, a malformed token or one over 8 KiB (400 `invalid_request`).
 */
export function credentialsException(kind: 'missing' | 'malformed', setHeader: SetHeader): HttpException {
  if (kind === 'missing') {
    setHeader('WWW-Authenticate', bearerChallenge());
    return new UnauthorizedException('A bearer token is required');
  }
  setHeader('WWW-Authenticate', bearerChallenge({ error: 'invalid_request' }));
  return new BadRequestException('The Authorization header is not a well-formed bearer token');
}

/** The one place where lookup failures become HTTP answers. Anything unexpected fails closed (503). */
export function lookupFailureException(error: unknown, setHeader: SetHeader, logger: Logger): HttpException {
  if (error instanceof HyperIdTokenInvalidError || error instanceof HyperIdTokenExpiredError) {
    const description =
      error instanceof HyperIdTokenExpiredError
        ? 'The access token has expired'
        : 'The access token is invalid';
    setHeader(
      'WWW-Authenticate',
      bearerChallenge({ error: 'invalid_token', error_description: description }),
    );
    return new UnauthorizedException(description);
  }
  if (error instanceof HyperIdAccessDeniedError) {
    setHeader('WWW-Authenticate', bearerChallenge({ error: 'insufficient_scope', scope: REQUIRED_SCOPE }));
    return new ForbiddenException(`The access token lacks the ${REQUIRED_SCOPE} scope`);
  }
  if (error instanceof HyperIdServiceUnavailableError) {
    setHeader('Retry-After', String(error.retryAfterSeconds));
    return new ServiceUnavailableException('HyperID is unavailable; try again later');
  }
  if (error instanceof HyperIdError) {
    return new BadGatewayException('HyperID gave an unexpected answer');
  }
  // Not a lookup failure: a defect or a failing dependency. Fail closed, and say so.
  logger.error(`2FA check failed unexpectedly: ${error instanceof Error ? error.message : 'unknown error'}`);
  setHeader('Retry-After', '1');
  return new ServiceUnavailableException('Two-factor authentication could not be verified; try again later');
}
