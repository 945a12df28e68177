import {
  ForbiddenException,
  HttpException,
  Inject,
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { isWellFormedAccessToken, readBearerCredentials, type BearerCredentials } from './bearer-token.js';
import { HYPERID_RESOLVED_OPTIONS, LOGGER_CONTEXT } from './hyperid.constants.js';
import type { TwoFactorAnswer } from './cache/two-factor.cache.js';
import {
  VERIFIED_TWO_FACTOR_TYPES,
  httpExchangeOf,
  rememberPending,
  reusableAnswer,
  type HttpExchange,
} from './hyperid.context.js';
import { lookupFailureException, credentialsException } from './hyperid.http-errors.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';
import { TwoFactorRequiredException, TwoFactorStepUpRequiredException } from './two-factor.exceptions.js';
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
    @Inject(HYPERID_RESOLVED_OPTIONS) protected readonly options: ResolvedHyperIdOptions,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    try {
      const requirement = this.reflector.getAllAndOverride(TwoFactorMetadata, [
        context.getHandler(),
        context.getClass(),
      ]);
      if (!requirement) return true;

      const exchange = this.getExchange(context);
      const answer = this.answerFor(context, exchange);
      // A cache hit is answered without a promise: the check costs a few microseconds.
      return answer instanceof Promise
        ? answer.then((resolved) => this.enforce(context, requirement, exchange, resolved))
        : this.enforce(context, requirement, exchange, answer);
    } catch (error) {
      // Refusals always arrive as a rejected promise, whether or not HyperID was asked.
      return Promise.reject(error instanceof Error ? error : new Error('2FA check failed'));
    }
  }

  private enforce(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    exchange: HttpExchange | undefined,
    answer: TwoFactorAnswer,
  ): boolean {
    const types = answer.authTypes;
    const has = (type: TwoFactorType) => types.includes(type);
    const satisfied = requirement.mode === 'all' ? requirement.types.every(has) : requirement.types.some(has);
    if (!satisfied) {
      const missing = requirement.types.filter((type) => !has(type));
      this.throwTwoFactorRequired(context, requirement, missing);
      // An override that returns instead of throwing must not let the request through.
      throw new TwoFactorRequiredException(requirement.mode, requirement.types, missing);
    }

    if (exchange) exchange.request[VERIFIED_TWO_FACTOR_TYPES] = answer;
    return true;
  }

  /**
   * The request and response behind `context`: HTTP and GraphQL are read here; other contexts
   * need the `tokenExtractor` option and are refused without it, never passed.
   */
  protected getExchange(context: ExecutionContext): HttpExchange | undefined {
    const exchange = httpExchangeOf(context);
    if (!exchange && !this.options.tokenExtractor) {
      this.logger.error(
        `@RequireTwoFactor() on a "${context.getType()}" handler needs the tokenExtractor option; refusing`,
      );
      throw new ForbiddenException('Two-factor authentication cannot be verified in this context');
    }
    return exchange;
  }

  /**
   * Throws the answer to a user who lacks required 2FA methods: 403 with `required`/`missing`, or
   * 401 with an RFC 9470 step-up challenge when the `stepUp` option is set. Override to answer otherwise.
   */
  protected throwTwoFactorRequired(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    missing: readonly TwoFactorType[],
  ): never {
    const { stepUp } = this.options;
    if (!stepUp) throw new TwoFactorRequiredException(requirement.mode, requirement.types, missing);
    const params: Record<string, string> = {
      error: 'insufficient_user_authentication',
      error_description: 'Two-factor authentication with the required methods is needed',
    };
    if (stepUp.acrValues !== undefined) params.acr_values = stepUp.acrValues;
    if (stepUp.maxAgeSeconds !== undefined) params.max_age = String(stepUp.maxAgeSeconds);
    this.setHeader(httpExchangeOf(context)?.response, 'WWW-Authenticate', bearerChallenge(params));
    throw new TwoFactorStepUpRequiredException(requirement.mode, requirement.types, missing);
  }

  /**
   * One HyperID lookup per request: an answer verified earlier in this request (the guard applied
   * both globally and by the decorator, or the passport strategy) is reused, and so is a lookup
   * still in flight (the guarded fields of one GraphQL operation run at the same time) — but only
   * for the same token, and only until the answer expires.
   */
  private answerFor(
    context: ExecutionContext,
    exchange: HttpExchange | undefined,
  ): TwoFactorAnswer | Promise<TwoFactorAnswer> {
    const credentials = this.readCredentials(context, exchange);
    const response = exchange?.response;
    if (credentials.kind !== 'token') {
      throw credentialsException(credentials.kind, (name, value) => this.setHeader(response, name, value));
    }
    const request = exchange?.request;
    const reused = request && reusableAnswer(request, () => this.twoFactorService.keyOf(credentials.token));
    if (reused) return reused;

    const answer = this.twoFactorService.resolve(credentials.token);
    if (!(answer instanceof Promise)) return answer;
    const lookup = answer.catch((error: unknown) => {
      throw this.toHttpException(error, response);
    });
    if (request) rememberPending(request, this.twoFactorService.keyOf(credentials.token), lookup);
    return lookup;
  }

  private readCredentials(context: ExecutionContext, exchange: HttpExchange | undefined): BearerCredentials {
    if (exchange) return readBearerCredentials(exchange.request.headers?.authorization);
    const token = this.options.tokenExtractor?.(context);
    if (token === undefined || token === '') return { kind: 'missing' };
    return isWellFormedAccessToken(token) ? { kind: 'token', token } : { kind: 'malformed' };
  }

  /** Lookup failures become HTTP answers in one place, shared with the passport strategy. */
  private toHttpException(error: unknown, response: unknown): HttpException {
    return lookupFailureException(error, (name, value) => this.setHeader(response, name, value), this.logger);
  }

  private setHeader(response: unknown, name: string, value: string): void {
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter && response) adapter.setHeader(response, name, value);
  }
}
