import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  HttpException,
  Logger,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import { DEFAULTS, LOGGER_CONTEXT, REQUIRED_SCOPE } from '../hyperid.constants.js';
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

const noHeaders: SetHeader = () => undefined;
const logger = new Logger(LOGGER_CONTEXT);

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

/**
 * The HTTP answer for a failed HyperID lookup, as the README's status table gives it: 401
 * `invalid_token` for an invalid or expired token, 403 `insufficient_scope` for access denied,
 * 503 with `Retry-After` when HyperID is unavailable, 502 for anything HyperID got wrong.
 * Anything that is not a `HyperIdError` fails closed as 503 (and is logged, without a token).
 *
 * `setHeader` receives the `WWW-Authenticate` / `Retry-After` headers of the answer; without it
 * they are dropped. `TwoFactorGuard`, the passport strategy and `HyperIdExceptionFilter` all
 * answer through this function, so a failure reads the same wherever it happens.
 */
export function toHttpException(error: unknown, setHeader: SetHeader = noHeaders): HttpException {
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
  // Not a lookup failure: a defect or a failing dependency. Fail closed, and say so — by the
  // error's class only: a message may quote the request, token included.
  logger.error(`2FA check failed unexpectedly (${error instanceof Error ? error.name : typeof error})`);
  setHeader('Retry-After', String(DEFAULTS.retryAfterSeconds));
  return new ServiceUnavailableException('Two-factor authentication could not be verified; try again later');
}
