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
import { bearerTokenOf, credentialsOf } from './bearer-token.js';
import { HYPERID_RESOLVED_OPTIONS, LOGGER_CONTEXT, VERIFIED_TWO_FACTOR_TYPES } from './hyperid.constants.js';
import type { TwoFactorAnswer } from './cache/two-factor.cache.js';
import { httpExchangeOf, rememberPending, reusableAnswer, type HttpExchange } from './hyperid.context.js';
import { credentialsException, toHttpException } from './errors/http-exceptions.js';
import { isEnrollmentUrl, type ResolvedHyperIdOptions } from './hyperid.options.js';
import { outcomeOf, recordWouldRefuse } from './hyperid.telemetry.js';
import { ThrottledWarnings } from './throttled-warnings.js';
import type {
  TwoFactorRefusalReason,
  TwoFactorWouldRefuseEvent,
} from './interfaces/hyperid-module-options.interface.js';
import {
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
} from './errors/two-factor.exceptions.js';
import { TwoFactorMetadata, type TwoFactorRequirement } from './two-factor.metadata.js';
import { TwoFactorService } from './two-factor.service.js';
import type { TwoFactorType } from './two-factor-type.enum.js';
import { bearerChallenge } from './errors/www-authenticate.js';
import {
  SocketAnswerHeaders,
  SocketExchange,
  handshakeOf,
  handshakeTokenOf,
} from './websocket/socket.exchange.js';
import { toWsException } from './websocket/ws-exception.js';

/**
 * Enforces `@RequireTwoFactor()` requirements: reads the bearer token, asks `TwoFactorService`
 * for the user's 2FA methods, and answers per RFC 6750 when that fails. Applied by
 * `@RequireTwoFactor()` itself; also usable with `@UseGuards()` or as `APP_GUARD` (a request is
 * evaluated once either way). Routes without a requirement pass without calling HyperID.
 *
 * Extend it to change how it reads the token ({@link getToken}), when it skips the check
 * ({@link shouldSkip}) or how it answers ({@link toHttpException}, {@link throwTwoFactorRequired});
 * the first two are also options (`tokenExtractor`, `skipIf`). See the README's "Guard hooks".
 */
@Injectable()
export class TwoFactorGuard implements CanActivate {
  protected readonly logger = new Logger(LOGGER_CONTEXT);
  /** Report mode's warnings, one kind per route and reason. */
  private readonly wouldRefuseWarnings = new ThrottledWarnings(this.logger);

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
      // Another TwoFactorGuard (e.g. an app's subclass registered as APP_GUARD) already decided
      // this very call: the one @RequireTwoFactor() applies must not judge it again its own way.
      if ((context as DecidedContext)[DECIDED] === true) return true;
      let skip: boolean | Promise<boolean>;
      try {
        skip = this.shouldSkip(context);
      } catch (error) {
        return this.failedDecision('skip decision', error, context, requirement);
      }
      if (skip === true) return decided(context);
      if (skip instanceof Promise) {
        return skip.then(
          (skipped) => (skipped === true ? decided(context) : this.applies(context, requirement)),
          (error: unknown) => this.failedDecision('skip decision', error, context, requirement),
        );
      }
      return this.applies(context, requirement);
    } catch (error) {
      // Refusals always arrive as a rejected promise, whether or not HyperID was asked; anything
      // that is not an HTTP answer already (a throwing hook, a defect) fails closed as 503.
      return Promise.reject(error instanceof HttpException ? error : this.toHttpException(error, context));
    }
  }

  /**
   * Whether to let this request through without a check, though its route has a requirement.
   * Default: the `skipIf` option's answer, else false. A hook that throws or rejects does not
   * skip: the requirement applies (fail closed) and the error is logged.
   */
  protected shouldSkip(context: ExecutionContext): boolean | Promise<boolean> {
    return this.options.skipIf?.(context) ?? false;
  }

  /**
   * The bearer token of the request, unchecked: undefined when it carries none (answered 401
   * with a bare challenge); a string that is not RFC 6750 `b64token` syntax is answered 400.
   * Default: the `tokenExtractor` option when set (in every context, HTTP included); else the
   * `Authorization: Bearer` header of an HTTP or GraphQL request, or of a WebSocket connection's
   * handshake (socket.io's `auth.token` too; never a message's body). Any other context is
   * refused (403), never passed.
   */
  protected getToken(context: ExecutionContext): string | undefined {
    const { tokenExtractor } = this.options;
    if (tokenExtractor) {
      const token = tokenExtractor(context);
      return token === '' ? undefined : token;
    }
    const exchange = this.getExchange(context);
    if (!exchange) {
      this.logger.error(
        `@RequireTwoFactor() on a "${context.getType()}" handler needs the tokenExtractor option; refusing`,
      );
      throw new ForbiddenException('Two-factor authentication cannot be verified in this context');
    }
    if (exchange instanceof SocketExchange) return this.handshakeToken(exchange);
    return bearerTokenOf(exchange.request.headers?.authorization);
  }

  /**
   * The request and response behind `context` for HTTP and GraphQL (Apollo, Mercurius); for a
   * WebSocket message, its socket as the request (what the guard verifies is kept there for the
   * connection) and, as the response, the headers a refusal collects for its `WsException`;
   * undefined for any other context.
   */
  protected getExchange(context: ExecutionContext): HttpExchange | undefined {
    return httpExchangeOf(context);
  }

  /**
   * The HTTP answer to a failed lookup (`error` is usually a `HyperIdError`): by default the
   * package's `toHttpException()`, with its `WWW-Authenticate` / `Retry-After` headers set on the
   * response. Whatever an override returns is thrown: the request is refused either way.
   */
  protected toHttpException(error: unknown, context: ExecutionContext): HttpException {
    const response = this.getExchange(context)?.response;
    return toHttpException(error, (name, value) => this.setHeader(response, name, value));
  }

  /**
   * Throws the answer to a user who lacks required 2FA methods: 403 with `required`/`missing`, or
   * 401 with an RFC 9470 step-up challenge when the `stepUp` option is set. Override to answer
   * otherwise; an override that returns instead of throwing is answered 403 all the same.
   */
  protected throwTwoFactorRequired(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    missing: readonly TwoFactorType[],
  ): never {
    const { stepUp } = this.options;
    const enrollmentUrl = this.enrollmentUrlFor(missing);
    if (!stepUp) {
      throw new TwoFactorRequiredException(requirement.mode, requirement.types, missing, enrollmentUrl);
    }
    const params: Record<string, string> = {
      error: 'insufficient_user_authentication',
      error_description: 'Two-factor authentication with the required methods is needed',
    };
    if (stepUp.acrValues !== undefined) params.acr_values = stepUp.acrValues;
    if (stepUp.maxAgeSeconds !== undefined) params.max_age = String(stepUp.maxAgeSeconds);
    this.setHeader(this.getExchange(context)?.response, 'WWW-Authenticate', bearerChallenge(params));
    throw new TwoFactorStepUpRequiredException(requirement.mode, requirement.types, missing, enrollmentUrl);
  }

  /** A skip decision or condition that threw or rejected does not exempt: it is logged, then the requirement applies. */
  private failedDecision(
    what: 'skip decision' | 'condition',
    error: unknown,
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
  ): boolean | Promise<boolean> {
    // The error's class only: its message may quote the request, token included.
    this.logger.error(`2FA ${what} failed (${errorName(error)}); applying the requirement`);
    return what === 'condition' ? this.check(context, requirement) : this.applies(context, requirement);
  }

  /**
   * The requirement's `when` condition: only `false` exempts the call (without asking HyperID);
   * any other answer, a throw or a rejection applies the requirement.
   */
  private applies(context: ExecutionContext, requirement: TwoFactorRequirement): boolean | Promise<boolean> {
    const { when } = requirement;
    if (when === undefined) return this.check(context, requirement);
    let applies: boolean | Promise<boolean>;
    try {
      applies = when(context);
    } catch (error) {
      return this.failedDecision('condition', error, context, requirement);
    }
    if (applies === false) return decided(context);
    if (applies instanceof Promise) {
      return applies.then(
        (answer) => (answer === false ? decided(context) : this.check(context, requirement)),
        (error: unknown) => this.failedDecision('condition', error, context, requirement),
      );
    }
    return this.check(context, requirement);
  }

  /**
   * Looks the caller up and enforces `requirement`, or, in report mode, records what enforcing
   * would have answered. Throws only HTTP answers: anything else fails closed through
   * {@link toHttpException} (this may run after an asynchronous hook, out of canActivate's reach).
   */
  private check(context: ExecutionContext, requirement: TwoFactorRequirement): boolean | Promise<boolean> {
    if ((requirement.enforce ?? this.options.enforce) === 'report') return this.report(context, requirement);
    try {
      const exchange = this.getExchange(context);
      if (exchange instanceof SocketExchange) return this.checkSocket(context, requirement, exchange);
      return this.verify(context, requirement, exchange);
    } catch (error) {
      throw this.httpAnswerTo(error, context);
    }
  }

  private httpAnswerTo(error: unknown, context: ExecutionContext): HttpException {
    return error instanceof HttpException ? error : this.toHttpException(error, context);
  }

  private verify(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    exchange: HttpExchange | undefined,
  ): boolean | Promise<boolean> {
    const answer = this.answerFor(context, exchange, true);
    return answer instanceof Promise
      ? answer.then(
          (resolved) => this.enforce(context, requirement, exchange, resolved),
          (error: unknown) => {
            throw this.httpAnswerTo(error, context);
          },
        )
      : this.enforce(context, requirement, exchange, answer);
  }

  /**
   * {@link verify} for a WebSocket message, whose refusals reach the client only as a
   * `WsException` (Nest answers any other exception on a gateway "Internal server error"): the
   * same HTTP answer, body and headers, inside one. Never throws: refusals are rejections.
   */
  private checkSocket(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    exchange: SocketExchange,
  ): boolean | Promise<boolean> {
    const refuse = async (error: unknown): Promise<never> => {
      throw await toWsException(this.httpAnswerTo(error, context), exchange.response);
    };
    try {
      const verdict = this.verify(context, requirement, exchange);
      return verdict instanceof Promise ? verdict.catch(refuse) : verdict;
    } catch (error) {
      return refuse(error);
    }
  }

  /** The token of a socket's handshake; a socket whose handshake cannot be read is refused (403). */
  private handshakeToken(exchange: SocketExchange): string | undefined {
    const handshake = handshakeOf(exchange.request);
    if (handshake) return handshakeTokenOf(handshake);
    this.logger.error(
      '@RequireTwoFactor() on a "ws" handler found no handshake to read the token from: wrap a ws ' +
        'adapter with keepUpgradeRequests() (docs/websockets.md), or set the tokenExtractor option; refusing',
    );
    throw new ForbiddenException('Two-factor authentication cannot be verified in this context');
  }

  private enforce(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    exchange: HttpExchange | undefined,
    answer: TwoFactorAnswer,
  ): boolean {
    if (!isSatisfied(requirement, answer.authTypes)) {
      const missing = missingTypes(requirement, answer.authTypes);
      this.throwTwoFactorRequired(context, requirement, missing);
      // An override that returns instead of throwing must not let the request through.
      throw new TwoFactorRequiredException(
        requirement.mode,
        requirement.types,
        missing,
        this.enrollmentUrlFor(missing),
      );
    }

    if (exchange) exchange.request[VERIFIED_TWO_FACTOR_TYPES] = answer;
    return decided(context);
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
    respond: boolean,
  ): TwoFactorAnswer | Promise<TwoFactorAnswer> {
    const credentials = credentialsOf(this.getToken(context));
    if (credentials.kind !== 'token') {
      // Report mode answers 200: no challenge header goes on its response.
      const response = respond ? exchange?.response : undefined;
      throw credentialsException(credentials.kind, (name, value) => this.setHeader(response, name, value));
    }
    const request = exchange?.request;
    const reused = request && reusableAnswer(request, () => this.twoFactorService.keyOf(credentials.token));
    if (reused) return reused;

    // A failed lookup rejects with the service's error; each check that awaits it answers for itself.
    const answer = this.twoFactorService.resolveWellFormed(credentials.token);
    if (answer instanceof Promise && request) {
      rememberPending(request, this.twoFactorService.keyOf(credentials.token), answer);
    }
    return answer;
  }

  /**
   * Report mode: looks the caller up as enforcing would (through the cache), lets the call through
   * whatever the answer, and records the refusal enforcing would have made, if any.
   */
  private report(context: ExecutionContext, requirement: TwoFactorRequirement): true | Promise<true> {
    let exchange: HttpExchange | undefined;
    let answer: TwoFactorAnswer | Promise<TwoFactorAnswer>;
    try {
      exchange = this.getExchange(context);
      answer = this.answerFor(context, exchange, false);
    } catch (error) {
      return this.wouldRefuse(context, requirement, error);
    }
    const pass = (resolved: TwoFactorAnswer): true => {
      if (exchange) exchange.request[VERIFIED_TWO_FACTOR_TYPES] = resolved;
      if (!isSatisfied(requirement, resolved.authTypes)) {
        const missing = missingTypes(requirement, resolved.authTypes);
        return this.wouldRefuse(context, requirement, undefined, missing);
      }
      return decided(context);
    };
    return answer instanceof Promise
      ? answer.then(pass, (error: unknown) => this.wouldRefuse(context, requirement, error))
      : pass(answer);
  }

  /**
   * Records one refusal report mode lets through — `error` is what enforcing would have thrown,
   * or undefined with the `missing` types — as a warning, a counter and the `onWouldRefuse` hook.
   */
  private wouldRefuse(
    context: ExecutionContext,
    requirement: TwoFactorRequirement,
    error: unknown,
    missing?: readonly TwoFactorType[],
  ): true {
    const { reason, status } = missing
      ? { reason: 'missing_methods' as const, status: this.options.stepUp ? 401 : 403 }
      : refusalOf(error);
    const route = `${context.getClass()?.name}.${context.getHandler()?.name}`;
    this.warnWouldRefuse(route, status, reason);
    recordWouldRefuse(route, reason);
    const hook = this.options.onWouldRefuse;
    if (hook) {
      const event: TwoFactorWouldRefuseEvent = {
        route,
        reason,
        status,
        mode: requirement.mode,
        required: requirement.types,
        ...(missing && { missing }),
        context,
      };
      const failed = (hookError: unknown) =>
        this.logger.error(`onWouldRefuse failed (${errorName(hookError)})`);
      try {
        const done = hook(event);
        if (done instanceof Promise) done.catch(failed);
      } catch (hookError) {
        failed(hookError);
      }
    }
    return decided(context);
  }

  /**
   * Logs a refusal report mode let through: the first of a route and reason at once, then at most
   * one line a minute, counting the ones in between (a flood of junk tokens must not flood the
   * logs; the counter and the hook still see every one).
   */
  private warnWouldRefuse(route: string, status: number, reason: TwoFactorRefusalReason): void {
    this.wouldRefuseWarnings.warn(`${route} ${reason}`, (heldBack) => {
      const since = heldBack ? `; ${heldBack} more since the last line` : '';
      return `2FA would refuse ${route}: ${status} ${reason} (report mode${since})`;
    });
  }

  /** The `enrollmentUrl` option's answer for these missing types; undefined for none or a bad one. */
  private enrollmentUrlFor(missing: readonly TwoFactorType[]): string | undefined {
    const { enrollmentUrl } = this.options;
    if (typeof enrollmentUrl !== 'function') return enrollmentUrl;
    try {
      const url = enrollmentUrl(missing);
      return isEnrollmentUrl(url) ? url : undefined;
    } catch (error) {
      this.logger.error(`enrollmentUrl failed (${errorName(error)}); answering without it`);
      return undefined;
    }
  }

  private setHeader(response: unknown, name: string, value: string): void {
    if (response instanceof SocketAnswerHeaders) return response.set(name, value);
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter && response) adapter.setHeader(response, name, value);
  }
}

/**
 * Marks a handler call a TwoFactorGuard has let through. Nest hands every guard of one call the
 * same ExecutionContext, and a new one to the next call, so a decision never outlives its call.
 * A symbol-keyed property on the context costs a fraction of a WeakSet entry on the hot path.
 */
const DECIDED = Symbol('nestjs-hyperid.decided');
type DecidedContext = ExecutionContext & { [DECIDED]?: true };

function decided(context: ExecutionContext): true {
  (context as DecidedContext)[DECIDED] = true;
  return true;
}

/** Whether `types` meet `requirement`: a plain loop, as this runs on every guarded request. */
function isSatisfied(requirement: TwoFactorRequirement, types: readonly number[]): boolean {
  const all = requirement.mode === 'all';
  for (const type of requirement.types) {
    if (types.includes(type) !== all) return !all;
  }
  return all;
}

/** The required types `types` lacks. */
function missingTypes(requirement: TwoFactorRequirement, types: readonly number[]): TwoFactorType[] {
  return requirement.types.filter((type) => !types.includes(type));
}

/** Why enforcing would refuse with `error`, and the status it would answer (the package's mapping). */
function refusalOf(error: unknown): { reason: TwoFactorRefusalReason; status: number } {
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const reason = status === 400 ? 'malformed_token' : status === 401 ? 'no_token' : 'unsupported_context';
    return { reason, status };
  }
  const outcome = outcomeOf(error);
  return {
    reason: outcome === 'success' ? 'upstream_error' : outcome,
    status: toHttpException(error, () => undefined).getStatus(),
  };
}

/** What a log line may say of an unexpected error: its class, never its message. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
