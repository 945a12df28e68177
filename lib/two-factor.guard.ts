import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  HttpException,
  Injectable,
  Logger,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { readBearerCredentials } from './bearer-token.js';
import { LOGGER_CONTEXT, REQUIRED_SCOPE } from './hyperid.constants.js';
import { VERIFIED_TWO_FACTOR_TYPES, httpExchangeOf, type HttpExchange } from './hyperid.context.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
} from './hyperid.errors.js';
import { TwoFactorRequiredException } from './two-factor.exceptions.js';
import { TwoFactorMetadata, type TwoFactorRequirement } from './two-factor.metadata.js';
import { TwoFactorService } from './two-factor.service.js';
import type { TwoFactorType } from './two-factor-type.enum.js';
import { bearerChallenge } from './www-authenticate.js';

/**
 * Enforces `@RequireTwoFactor()` requirements: reads the bearer token, asks `TwoFactorService`
 * for the user's 2FA methods, and answers per RFC 6750 when that fails. Applied by
 * `@RequireTwoFactor()` itself; also usable with `@UseGuards()` or as `APP_GUARD` (a request is
 * evaluated once either way). Routes without a requirement pass without calling HyperID.
 */
@Injectable()
export class TwoFactorGuard implements CanActivate {
  protected readonly logger = new Logger(LOGGER_CONTEXT);

  constructor(
    protected readonly reflector: Reflector,
    protected readonly twoFactorService: TwoFactorService,
    protected readonly adapterHost: HttpAdapterHost,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const requirement = this.reflector.getAllAndOverride(TwoFactorMetadata, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!requirement) return true;

    const exchange = this.getExchange(context);
    // Applied both globally and by the decorator, the guard runs twice: the first verdict stands.
    if (Array.isArray(exchange.request[VERIFIED_TWO_FACTOR_TYPES])) return true;

    const types = await this.lookUpTypes(exchange);
    const missing = requirement.types.filter((type) => !types.includes(type));
    const satisfied = requirement.mode === 'all' ? missing.length === 0 : missing.length < requirement.types.length;
    if (!satisfied) this.throwTwoFactorRequired(context, requirement, missing);

    exchange.request[VERIFIED_TWO_FACTOR_TYPES] = types;
    return true;
  }

  /**
   * The request and response behind `context`. HTTP and GraphQL are supported; any other context
   * is refused, never passed.
   */
  protected getExchange(context: ExecutionContext): HttpExchange {
    const exchange = httpExchangeOf(context);
    if (!exchange) {
      this.logger.error(`@RequireTwoFactor() on a "${context.getType()}" handler is not supported; refusing`);
      throw new ForbiddenException('Two-factor authentication cannot be verified in this context');
    }
    return exchange;
  }

  /** Throws the answer to a user who lacks required 2FA methods; override to answer otherwise. */
  protected throwTwoFactorRequired(
    _context: ExecutionContext,
    requirement: TwoFactorRequirement,
    missing: readonly TwoFactorType[],
  ): never {
    throw new TwoFactorRequiredException(requirement.mode, requirement.types, missing);
  }

  private async lookUpTypes({ request, response }: HttpExchange): Promise<readonly number[]> {
    const credentials = readBearerCredentials(request.headers?.authorization);
    if (credentials.kind === 'missing') {
      this.setHeader(response, 'WWW-Authenticate', bearerChallenge());
      throw new UnauthorizedException('A bearer token is required');
    }
    if (credentials.kind === 'malformed') {
      this.setHeader(response, 'WWW-Authenticate', bearerChallenge({ error: 'invalid_request' }));
      throw new BadRequestException('The Authorization header is not a well-formed bearer token');
    }
    try {
      return (await this.twoFactorService.getAvailableTypes(credentials.token)).auth_types;
    } catch (error) {
      throw this.toHttpException(error, response);
    }
  }

  /** The one place where lookup failures become HTTP answers. */
  private toHttpException(error: unknown, response: unknown): HttpException {
    if (error instanceof HyperIdTokenInvalidError || error instanceof HyperIdTokenExpiredError) {
      const description =
        error instanceof HyperIdTokenExpiredError ? 'The access token has expired' : 'The access token is invalid';
      this.setHeader(
        response,
        'WWW-Authenticate',
        bearerChallenge({ error: 'invalid_token', error_description: description }),
      );
      return new UnauthorizedException(description);
    }
    if (error instanceof HyperIdAccessDeniedError) {
      this.setHeader(
        response,
        'WWW-Authenticate',
        bearerChallenge({ error: 'insufficient_scope', scope: REQUIRED_SCOPE }),
      );
      return new ForbiddenException(`The access token lacks the ${REQUIRED_SCOPE} scope`);
    }
    if (error instanceof HyperIdServiceUnavailableError) {
      this.setHeader(response, 'Retry-After', String(error.retryAfterSeconds));
      return new ServiceUnavailableException('HyperID is unavailable; try again later');
    }
    if (error instanceof HyperIdError) {
      return new BadGatewayException('HyperID gave an unexpected answer');
    }
    // Not a lookup failure: a defect or a failing dependency. Fail closed, and say so.
    this.logger.error(`2FA check failed unexpectedly: ${error instanceof Error ? error.message : 'unknown error'}`);
    this.setHeader(response, 'Retry-After', '1');
    return new ServiceUnavailableException('Two-factor authentication could not be verified; try again later');
  }

  private setHeader(response: unknown, name: string, value: string): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter && response) adapter.setHeader(response, name, value);
  }
}
