import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  HttpException,
  Injectable,
  ServiceUnavailableException,
  UnauthorizedException,
  type ExecutionContext,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test, type TestingModule } from '@nestjs/testing';
import { WsException } from '@nestjs/websockets';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { HyperIdClient } from './client/hyperid.client.js';
import type { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import {
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './errors/hyperid.errors.js';
import {
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
} from './errors/two-factor.exceptions.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import {
  HYPERID_RESOLVED_OPTIONS,
  LOGGER_CONTEXT,
  PENDING_TWO_FACTOR_LOOKUP,
  VERIFIED_TWO_FACTOR_TYPES,
  WARNING_LOG_INTERVAL_MS,
} from './hyperid.constants.js';
import { HyperIdModule } from './hyperid.module.js';
import type {
  HyperIdModuleOptions,
  HyperIdSkipIf,
  HyperIdWouldRefuseHook,
  TwoFactorWouldRefuseEvent,
} from './interfaces/hyperid-module-options.interface.js';
import { RequireTwoFactor, SkipTwoFactor } from './require-two-factor.decorator.js';
import {
  HyperIdTestingController,
  InMemoryHyperIdClient,
  type HyperIdTestingAnswer,
} from './testing/in-memory-hyperid.client.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import type { TwoFactorCondition } from './two-factor.metadata.js';
import { TwoFactorService } from './two-factor.service.js';
import { TwoFactorType } from './two-factor-type.enum.js';
import { keepUpgradeRequests } from './websocket/upgrade-requests.js';
import type { TwoFactorWsError } from './websocket/ws-exception.js';

/** canActivate() answers a cache hit synchronously; the specs read every outcome as a promise. */
const activate = (guard: TwoFactorGuard, context: ExecutionContext) =>
  Promise.resolve().then(() => guard.canActivate(context));

/**
 * What canActivate() answered synchronously. A promise fails the expectation that follows; it is
 * caught here first, so that a refusal it carries fails that test alone, not the whole run.
 */
function atOnce(answer: boolean | Promise<boolean>): unknown {
  if (answer instanceof Promise) answer.catch(() => undefined);
  return answer;
}

/** Lets every pending promise chain run (a lookup reaches the client, or waits for one in flight). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const { HyperIdAuthenticator, Totp, Sms, AlternativeEmail } = TwoFactorType;

const GOOD = 'good-token'; // [HyperIdAuthenticator, AlternativeEmail]
const NONE = 'none-token'; // []
const FUTURE = 'future-token'; // [42]: a type this version does not know

/** What the in-memory HyperID answers at the start of every test. */
const TOKENS: Record<string, HyperIdTestingAnswer> = {
  [GOOD]: [HyperIdAuthenticator, AlternativeEmail],
  [NONE]: [],
  [FUTURE]: [42],
};

/** Never called (HyperIdClient is overridden); a closed loopback port if it ever were. */
const API_URL = 'http://127.0.0.1:9';

@RequireTwoFactor(Totp)
class GuardedController {
  classRule(): void {}

  @RequireTwoFactor(AlternativeEmail)
  methodRule(): void {}

  @SkipTwoFactor()
  skipped(): void {}

  @RequireTwoFactor({ anyOf: [Totp, AlternativeEmail] })
  anyOf(): void {}

  @RequireTwoFactor({ allOf: [HyperIdAuthenticator, Totp, Sms] })
  allOf(): void {}

  @RequireTwoFactor()
  bare(): void {}
}

class OpenController {
  open(): void {}
}

/** What the conditions under test answer; each test of "conditions" sets it. */
let condition: TwoFactorCondition = () => true;

/** The calls the conditions under test were asked about. */
const conditionAsked: ExecutionContext[] = [];

const byCondition: TwoFactorCondition = (context) => {
  conditionAsked.push(context);
  return condition(context);
};

/** The rollout tools of docs/rollout.md: report mode on the class, conditions and `enforce` on methods. */
@RequireTwoFactor({ anyOf: [Totp, Sms], enforce: 'report' })
class RolloutController {
  /** The class's requirement: any of TOTP and SMS, in report mode. */
  classRule(): void {}

  @RequireTwoFactor({ allOf: [AlternativeEmail], when: byCondition })
  conditional(): void {}

  @RequireTwoFactor({ allOf: [Totp, AlternativeEmail], enforce: 'report' })
  reported(): void {}

  @RequireTwoFactor({ allOf: [Totp], enforce: 'enforce' })
  enforced(): void {}

  /** The module's `enforce` option decides. */
  @RequireTwoFactor(Totp)
  byDefault(): void {}

  @RequireTwoFactor({ allOf: [Totp], enforce: 'report', when: byCondition })
  reportedWhen(): void {}
}

type ControllerClass = typeof GuardedController | typeof OpenController | typeof RolloutController;
type Handler = keyof GuardedController | keyof OpenController | keyof RolloutController;

/**
 * The in-memory HyperID, plus an answer that arrives but cannot be read (a malformed body). A slow
 * HyperID is the testing controller's `hold()` / `release()`.
 */
class ScriptedHyperIdClient extends InMemoryHyperIdClient {
  /** Every answer that reaches HyperID is unreadable, as a truncated JSON body would be. */
  malformed = false;

  /** Every lookup fails with this instead of reaching HyperID (an open breaker, a full bulkhead, a 429). */
  failure: Error | undefined;

  override async fetchTwoFactorTypes(accessToken: string): Promise<TwoFactorTypesResponseDto> {
    if (this.failure) throw this.failure;
    const dto = await super.fetchTwoFactorTypes(accessToken);
    if (this.malformed)
      throw new HyperIdUpstreamError('HyperID answered HTTP 200 with a body that is not JSON');
    return dto;
  }
}

/** Collects what the module logs; every testing module of this spec logs here. */
class LogCapture implements LoggerService {
  readonly lines: Array<{ level: string; text: string }> = [];

  log(...parts: unknown[]): void {
    this.push('log', parts);
  }
  error(...parts: unknown[]): void {
    this.push('error', parts);
  }
  warn(...parts: unknown[]): void {
    this.push('warn', parts);
  }
  debug(...parts: unknown[]): void {
    this.push('debug', parts);
  }
  verbose(...parts: unknown[]): void {
    this.push('verbose', parts);
  }

  errors(): string[] {
    return this.lines.filter((line) => line.level === 'error').map((line) => line.text);
  }

  warnings(): string[] {
    return this.lines.filter((line) => line.level === 'warn').map((line) => line.text);
  }

  clear(): void {
    this.lines.length = 0;
  }

  private push(level: string, parts: unknown[]): void {
    const text = parts
      .filter((part) => part !== undefined)
      .map((part) => (typeof part === 'string' ? part : JSON.stringify(part)))
      .join(' ');
    this.lines.push({ level, text });
  }
}

/** Records the headers the guard sets through the HTTP adapter. */
class RecordingAdapter {
  readonly headers: Array<{ response: unknown; name: string; value: string }> = [];
  setHeader(response: unknown, name: string, value: string): void {
    this.headers.push({ response, name, value });
  }
}

type TestRequest = Record<PropertyKey, unknown> & { headers: Record<string, string> };

function request(authorization?: string, headers: Record<string, string> = {}): TestRequest {
  return { headers: authorization === undefined ? { ...headers } : { ...headers, authorization } };
}

/** A line as LogCapture keeps it: the message, then the logger's context. */
const logged = (message: string) => `${message} ${LOGGER_CONTEXT}`;

function contextFor(
  controller: ControllerClass,
  handler: Handler,
  args: unknown[],
  type: string = 'http',
): ExecutionContext {
  const method = (controller.prototype as unknown as Record<string, () => void>)[handler];
  const context = new ExecutionContextHost(args, controller, method);
  context.setType(type);
  return context;
}

const http = (
  handler: Handler,
  req = request(`Bearer ${GOOD}`),
  controller: ControllerClass = GuardedController,
) => contextFor(controller, handler, [req, { id: 'response' }, () => undefined]);

/** An HTTP call of a {@link RolloutController} route. */
const rollout = (handler: keyof RolloutController, req = request(`Bearer ${GOOD}`)) =>
  http(handler, req, RolloutController);

async function refusal(promise: Promise<unknown>): Promise<HttpException> {
  try {
    await promise;
  } catch (error) {
    return error as HttpException;
  }
  throw new Error('expected the guard to refuse');
}

/** The bare challenge of a request without a bearer token. */
const BARE_CHALLENGE = {
  response: { id: 'response' },
  name: 'WWW-Authenticate',
  value: 'Bearer realm="hyperid"',
};

/** What the skip hooks under test answer; each test of "skipping" sets it. */
let decide: HyperIdSkipIf = () => false;

/** Decides to skip in a subclass, as an app would instead of the `skipIf` option. */
@Injectable()
class SkippingGuard extends TwoFactorGuard {
  protected override shouldSkip(context: ExecutionContext): boolean | Promise<boolean> {
    return decide(context);
  }
}

/** Reads the token from an `access_token` cookie, never from the `Authorization` header. */
@Injectable()
class CookieGuard extends TwoFactorGuard {
  protected override getToken(context: ExecutionContext): string | undefined {
    const cookie = this.getExchange(context)?.request.headers?.cookie;
    if (typeof cookie !== 'string') return undefined;
    for (const pair of cookie.split(';')) {
      const [name, ...value] = pair.trim().split('=');
      if (name === 'access_token') return value.join('=');
    }
    return undefined;
  }
}

/** Answers every failed lookup with its own exception (by default a 418) and keeps what it saw. */
@Injectable()
class TeapotGuard extends TwoFactorGuard {
  readonly seen: unknown[] = [];
  answer: HttpException | undefined = new HttpException('HyperID lookup failed', 418);

  protected override toHttpException(error: unknown): HttpException {
    this.seen.push(error);
    return this.answer as HttpException;
  }
}

/** Returns instead of throwing when the user lacks the required methods. */
@Injectable()
class LenientGuard extends TwoFactorGuard {
  protected override throwTwoFactorRequired(): never {
    return undefined as never;
  }
}

/** A metric reader the specs pull the would-refuse counter from on demand. */
class PullReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('TwoFactorGuard', () => {
  const controller = new HyperIdTestingController();
  const client = new ScriptedHyperIdClient(controller);
  const adapter = new RecordingAdapter();
  const logs = new LogCapture();
  const modules: TestingModule[] = [];

  /**
   * The real module (without a cache, so every check is a lookup) on the in-memory HyperID, and its
   * guard — or `guardClass`, a subclass provided next to it and built by DI.
   */
  async function guardWith<G extends TwoFactorGuard = TwoFactorGuard>(
    options: HyperIdModuleOptions = {},
    guardClass?: Type<G>,
  ): Promise<G> {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: API_URL, cache: false, ...options })],
      providers: guardClass ? [guardClass] : [],
    })
      .overrideProvider(HyperIdClient)
      .useValue(client)
      .setLogger(logs)
      .compile();
    modules.push(moduleRef);
    moduleRef.get(HttpAdapterHost).httpAdapter = adapter as never;
    return moduleRef.get<G>(guardClass ?? TwoFactorGuard);
  }

  let guard: TwoFactorGuard;

  beforeAll(async () => {
    guard = await guardWith();
  });

  beforeEach(() => {
    for (const [token, answer] of Object.entries(TOKENS)) controller.setToken(token, answer);
    controller.resetCalls();
    controller.release();
    client.malformed = false;
    client.failure = undefined;
    adapter.headers.length = 0;
    logs.clear();
  });

  afterAll(async () => {
    controller.release();
    client.malformed = false;
    for (const moduleRef of modules) await moduleRef.close();
  });

  describe('metadata', () => {
    it('lets a route without a requirement through without calling HyperID, even without a token', async () => {
      await expect(activate(guard, http('open', request(), OpenController as never))).resolves.toBe(true);
      expect(controller.calls()).toBe(0);
    });

    it('@SkipTwoFactor() on the method overrides the class’s requirement', async () => {
      await expect(activate(guard, http('skipped', request()))).resolves.toBe(true);
      expect(controller.calls()).toBe(0);
    });

    it('the method’s requirement overrides the class’s (method passes where the class would fail)', async () => {
      await expect(activate(guard, http('methodRule'))).resolves.toBe(true);
      const error = await refusal(activate(guard, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getStatus()).toBe(403);
      expect(error.getResponse()).toMatchObject({ mode: 'all', required: [Totp], missing: [Totp] });
    });

    it('anyOf passes with one of the types', async () => {
      await expect(activate(guard, http('anyOf'))).resolves.toBe(true);
    });

    it('allOf names every missing type', async () => {
      const error = await refusal(activate(guard, http('allOf')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getResponse()).toEqual({
        statusCode: 403,
        error: 'Forbidden',
        message: expect.any(String),
        mode: 'all',
        required: [HyperIdAuthenticator, Totp, Sms],
        missing: [Totp, Sms],
      });
    });

    it('a bare requirement refuses a user without 2FA, naming every known type', async () => {
      const error = await refusal(activate(guard, http('bare', request(`Bearer ${NONE}`))));
      expect(error.getResponse()).toMatchObject({
        mode: 'any',
        required: [HyperIdAuthenticator, Totp, Sms, AlternativeEmail],
        missing: [HyperIdAuthenticator, Totp, Sms, AlternativeEmail],
      });
    });

    it('types this version does not know never satisfy a requirement', async () => {
      const error = await refusal(activate(guard, http('bare', request(`Bearer ${FUTURE}`))));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(controller.calls(FUTURE)).toBe(1);
    });
  });

  describe('the request', () => {
    it('leaves the verified types on the request, and reuses them: one lookup per request', async () => {
      const req = request(`Bearer ${GOOD}`);
      await activate(guard, http('methodRule', req));
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      await activate(guard, http('methodRule', req));
      expect(controller.calls()).toBe(1);
    });

    it('keeps the token’s digest with what it verified, never the token', async () => {
      const req = request(`Bearer ${GOOD}`);
      await activate(guard, http('methodRule', req));
      const verified = req[VERIFIED_TWO_FACTOR_TYPES] as { key: string };
      expect(typeof verified.key).toBe('string');
      expect(JSON.stringify(verified)).not.toContain(GOOD);
    });

    it('drops the lookup in flight from the request once it has settled', async () => {
      const req = request(`Bearer ${GOOD}`);
      controller.hold();
      const pending = activate(guard, http('methodRule', req));
      await settle();
      expect(req[PENDING_TWO_FACTOR_LOOKUP]).toBeDefined();
      controller.release();
      await pending;
      expect(req[PENDING_TWO_FACTOR_LOOKUP]).toBeUndefined();
      await refusal(activate(guard, http('methodRule', request('Bearer unknown-token'))));
    });

    it('shares one lookup between concurrent checks of one request', async () => {
      const req = request(`Bearer ${GOOD}`);
      controller.hold();
      const checks = [activate(guard, http('methodRule', req)), activate(guard, http('methodRule', req))];
      await settle();
      expect(controller.held).toBe(1);
      controller.release();
      await expect(Promise.all(checks)).resolves.toEqual([true, true]);
      expect(controller.calls()).toBe(1);
    });

    it('looks up again when the same request object carries another token (no stale answer)', async () => {
      const req = request(`Bearer ${GOOD}`);
      await activate(guard, http('methodRule', req));
      req.headers.authorization = `Bearer ${NONE}`;
      const error = await refusal(activate(guard, http('methodRule', req)));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(controller.calls(GOOD)).toBe(1);
      expect(controller.calls(NONE)).toBe(1);
    });

    it('refuses a long-lived request once its token has expired, though it was verified before', async () => {
      const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 1 })).toString(
        'base64url',
      );
      const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`;
      controller.setToken(jwt, [AlternativeEmail]);
      const req = request(`Bearer ${jwt}`);
      await expect(activate(guard, http('methodRule', req))).resolves.toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const error = await refusal(activate(guard, http('methodRule', req)));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(controller.calls(jwt)).toBe(1);
    });

    it('does not mark a refused request as verified', async () => {
      const req = request(`Bearer ${GOOD}`);
      await refusal(activate(guard, http('classRule', req)));
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toBeUndefined();
    });

    it.each([
      ['no Authorization header', undefined],
      ['the Basic scheme', 'Basic dXNlcjpwYXNz'],
    ])('%s: 401 with a bare challenge, HyperID not called', async (_name, authorization) => {
      const error = await refusal(activate(guard, http('methodRule', request(authorization))));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(adapter.headers).toEqual([BARE_CHALLENGE]);
      expect(controller.calls()).toBe(0);
    });

    it.each(['Bearer', 'Bearer ', 'Bearer a"b', `Bearer ${'a'.repeat(8193)}`])(
      '%p: 400 invalid_request, HyperID not called',
      async (authorization) => {
        const error = await refusal(activate(guard, http('methodRule', request(authorization))));
        expect(error).toBeInstanceOf(BadRequestException);
        expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([
          ['WWW-Authenticate', 'Bearer realm="hyperid", error="invalid_request"'],
        ]);
        expect(controller.calls()).toBe(0);
      },
    );

    it.each([
      [HyperIdResult.TokenInvalid, UnauthorizedException, /error="invalid_token"/],
      [HyperIdResult.TokenExpired, UnauthorizedException, /error="invalid_token"/],
      [
        HyperIdResult.AccessDenied,
        ForbiddenException,
        /error="insufficient_scope", scope="second-factor-auth-client"/,
      ],
    ])('result %i becomes %p with its challenge', async (result, exceptionClass, challenge) => {
      controller.setToken(GOOD, result);
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(exceptionClass);
      expect(adapter.headers).toHaveLength(1);
      expect(adapter.headers[0].name).toBe('WWW-Authenticate');
      expect(adapter.headers[0].value).toMatch(challenge);
      expect(JSON.stringify(error.getResponse())).not.toContain(GOOD);
    });

    it('service temporarily unavailable becomes 503 with Retry-After', async () => {
      controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable);
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(adapter.headers).toEqual([{ response: { id: 'response' }, name: 'Retry-After', value: '1' }]);
    });

    it.each([
      ['invalid parameters', () => void controller.setToken(GOOD, HyperIdResult.InvalidParameters)],
      ['an unknown result code', () => void controller.setToken(GOOD, -42 as HyperIdResult)],
      ['a malformed answer', () => void (client.malformed = true)],
    ])('%s becomes 502', async (_name, fault) => {
      fault();
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(BadGatewayException);
      expect(controller.calls(GOOD)).toBe(1);
    });
  });

  describe('contexts', () => {
    it('reads the request of a GraphQL context', async () => {
      const req = request(`Bearer ${GOOD}`);
      const context = contextFor(GuardedController, 'methodRule', [{}, {}, { req }, {}], 'graphql');
      await expect(activate(guard, context)).resolves.toBe(true);
      expect(controller.calls(GOOD)).toBe(1);
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
    });

    it.each([
      ['rpc', [{ pattern: 'x' }, {}]],
      ['graphql', [{}, {}, {}, {}]],
      ['kafka', [{}]],
    ])('refuses a %s context without tokenExtractor, without calling HyperID', async (type, args) => {
      const error = await refusal(activate(guard, contextFor(GuardedController, 'methodRule', args, type)));
      expect(error).toBeInstanceOf(ForbiddenException);
      expect(controller.calls()).toBe(0);
    });

    it('still lets an unguarded handler through in any context', async () => {
      const context = contextFor(GuardedController, 'skipped', [{}, {}], 'rpc');
      await expect(activate(guard, context)).resolves.toBe(true);
    });

    describe('with tokenExtractor', () => {
      const seen: ExecutionContext[] = [];
      let answer: string | undefined;
      let extracting: TwoFactorGuard;

      beforeAll(async () => {
        extracting = await guardWith({
          tokenExtractor: (context) => {
            seen.push(context);
            return answer;
          },
        });
      });

      beforeEach(() => {
        seen.length = 0;
      });

      it.each(['rpc', 'ws'])('uses the token it returns in a %s context', async (type) => {
        answer = GOOD;
        const context = contextFor(GuardedController, 'methodRule', [{ pattern: 'x' }, {}], type);
        await expect(activate(extracting, context)).resolves.toBe(true);
        expect(seen).toEqual([context]);
        expect(controller.calls(GOOD)).toBe(1);
      });

      it('enforces the requirement on the extracted token', async () => {
        answer = GOOD;
        const context = contextFor(GuardedController, 'classRule', [{}, {}], 'rpc');
        await expect(activate(extracting, context)).rejects.toBeInstanceOf(TwoFactorRequiredException);
      });

      it.each([
        [undefined, UnauthorizedException],
        ['', UnauthorizedException],
        ['Bearer abc', BadRequestException],
        ['a b', BadRequestException],
      ])('refuses the extracted token %p without calling HyperID', async (token, exceptionClass) => {
        answer = token;
        const context = contextFor(GuardedController, 'methodRule', [{}, {}], 'rpc');
        await expect(activate(extracting, context)).rejects.toBeInstanceOf(exceptionClass);
        expect(controller.calls()).toBe(0);
      });

      it('reads HTTP requests through the extractor too, not the Authorization header', async () => {
        answer = NONE;
        const req = request(`Bearer ${GOOD}`);
        const error = await refusal(activate(extracting, http('methodRule', req)));
        expect(error).toBeInstanceOf(TwoFactorRequiredException);
        expect(seen).toHaveLength(1);
        expect(controller.calls(NONE)).toBe(1);
        expect(controller.calls(GOOD)).toBe(0);
      });

      it('refuses an HTTP request the extractor finds no token in, though its header has one', async () => {
        answer = undefined;
        const error = await refusal(activate(extracting, http('methodRule', request(`Bearer ${GOOD}`))));
        expect(error).toBeInstanceOf(UnauthorizedException);
        expect(adapter.headers).toEqual([BARE_CHALLENGE]);
        expect(seen).toHaveLength(1);
        expect(controller.calls()).toBe(0);
      });
    });
  });

  describe('stepUp', () => {
    it('answers a missing requirement with 401 and an RFC 9470 challenge', async () => {
      const stepUp = await guardWith({ stepUp: { acrValues: 'urn:hyperid:2fa', maxAgeSeconds: 300 } });
      const error = await refusal(activate(stepUp, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorStepUpRequiredException);
      expect(error.getStatus()).toBe(401);
      expect(error.getResponse()).toMatchObject({ mode: 'all', required: [Totp], missing: [Totp] });
      expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([
        [
          'WWW-Authenticate',
          'Bearer realm="hyperid", error="insufficient_user_authentication", ' +
            'error_description="Two-factor authentication with the required methods is needed", ' +
            'acr_values="urn:hyperid:2fa", max_age="300"',
        ],
      ]);
    });
  });

  describe('overriding throwTwoFactorRequired()', () => {
    it('refuses even when an override returns instead of throwing', async () => {
      const lenient = await guardWith({}, LenientGuard);
      const error = await refusal(activate(lenient, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getStatus()).toBe(403);
    });
  });

  describe.each([
    ['the skipIf option', () => guardWith({ skipIf: (context) => decide(context) })],
    ['an overridden shouldSkip()', () => guardWith({}, SkippingGuard)],
  ])('skipping, through %s', (_name, build) => {
    let skipping: TwoFactorGuard;
    const asked: ExecutionContext[] = [];

    beforeAll(async () => {
      skipping = await build();
    });

    beforeEach(() => {
      asked.length = 0;
    });

    /** Makes the hook answer `outcome()`, recording the contexts it is asked about. */
    const answer = (outcome: () => boolean | Promise<boolean>) => {
      decide = (context) => {
        asked.push(context);
        return outcome();
      };
    };

    it('true: lets the request through without a token and without calling HyperID', async () => {
      answer(() => true);
      const context = http('methodRule', request());
      await expect(activate(skipping, context)).resolves.toBe(true);
      expect(asked).toEqual([context]);
      expect(controller.calls()).toBe(0);
      expect(adapter.headers).toEqual([]);
    });

    it('false: the requirement applies (401 without a token; a token is looked up)', async () => {
      answer(() => false);
      const error = await refusal(activate(skipping, http('methodRule', request())));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(controller.calls()).toBe(0);
      await expect(activate(skipping, http('methodRule'))).resolves.toBe(true);
      expect(controller.calls(GOOD)).toBe(1);
      expect(asked).toHaveLength(2);
      expect(logs.errors()).toEqual([]);
    });

    it('a promise of true: lets the request through without a token and without calling HyperID', async () => {
      answer(() => Promise.resolve(true));
      await expect(activate(skipping, http('methodRule', request()))).resolves.toBe(true);
      expect(asked).toHaveLength(1);
      expect(controller.calls()).toBe(0);
    });

    it('a promise of false: the requirement applies', async () => {
      answer(() => Promise.resolve(false));
      const error = await refusal(activate(skipping, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it.each([
      [
        'throws',
        () => {
          throw new Error('session store down');
        },
      ],
      ['rejects', () => Promise.reject(new Error('session store down'))],
    ])(
      'a hook that %s: the requirement applies, and the failure is logged without the token',
      async (_how, outcome) => {
        answer(outcome);
        const missing = await refusal(activate(skipping, http('methodRule', request())));
        expect(missing).toBeInstanceOf(UnauthorizedException);
        expect(adapter.headers).toEqual([BARE_CHALLENGE]);
        expect(controller.calls()).toBe(0);

        const lacking = await refusal(activate(skipping, http('classRule', request(`Bearer ${GOOD}`))));
        expect(lacking).toBeInstanceOf(TwoFactorRequiredException);
        expect(controller.calls(GOOD)).toBe(1);

        const errors = logs.errors();
        expect(errors).toHaveLength(2);
        for (const line of errors) {
          expect(line).toMatch(/skip decision failed \(Error\)/);
          expect(line).not.toContain('session store down');
          expect(line).not.toContain(GOOD);
        }
      },
    );
  });

  describe('skip failures in the log', () => {
    let skipping: TwoFactorGuard;

    beforeAll(async () => {
      skipping = await guardWith({ skipIf: (context) => decide(context) });
    });

    it('a hook that rejects without a reason is logged too', async () => {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
      decide = () => Promise.reject(undefined);
      const error = await refusal(activate(skipping, http('methodRule', request())));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(logs.errors()).toEqual([expect.stringMatching(/skip decision failed/)]);
    });

    it('never logs the token, even when the hook’s error quotes it', async () => {
      // An app's hook that reads the header its own way, and fails on it: JSON.parse quotes its input.
      decide = async (context) => {
        const { authorization } = context.switchToHttp().getRequest<TestRequest>().headers;
        return (JSON.parse(authorization) as { internal?: boolean }).internal === true;
      };
      const error = await refusal(activate(skipping, http('classRule', request(`Bearer ${GOOD}`))));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(logs.errors()).toEqual([expect.stringMatching(/skip decision failed/)]);
      expect(JSON.stringify(logs.lines)).not.toContain(GOOD);
    });
  });

  describe('overriding getToken(): a token kept in a cookie', () => {
    let cookies: CookieGuard;

    beforeAll(async () => {
      cookies = await guardWith({}, CookieGuard);
    });

    it('checks the cookie’s token and ignores the Authorization header', async () => {
      const allowed = request(`Bearer ${NONE}`, { cookie: `theme=dark; access_token=${GOOD}` });
      await expect(activate(cookies, http('methodRule', allowed))).resolves.toBe(true);
      expect(allowed[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      const refused = request(`Bearer ${GOOD}`, { cookie: `access_token=${NONE}` });
      const error = await refusal(activate(cookies, http('methodRule', refused)));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(controller.calls(GOOD)).toBe(1);
      expect(controller.calls(NONE)).toBe(1);
      expect(controller.calls()).toBe(2);
    });

    it('no cookie (undefined): 401 with a bare challenge, though the header has a token; HyperID not called', async () => {
      const error = await refusal(activate(cookies, http('methodRule', request(`Bearer ${GOOD}`))));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(adapter.headers).toEqual([BARE_CHALLENGE]);
      expect(controller.calls()).toBe(0);
    });

    it('a malformed token: 400 invalid_request; HyperID not called', async () => {
      const req = request(`Bearer ${GOOD}`, { cookie: 'access_token=a"b' });
      const error = await refusal(activate(cookies, http('methodRule', req)));
      expect(error).toBeInstanceOf(BadRequestException);
      expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([
        ['WWW-Authenticate', 'Bearer realm="hyperid", error="invalid_request"'],
      ]);
      expect(controller.calls()).toBe(0);
    });
  });

  describe('a hook that fails', () => {
    it('a tokenExtractor that throws fails closed: 503, logged by class without the token', async () => {
      const failing = await guardWith({
        tokenExtractor: () => {
          throw new Error(`cannot parse Bearer ${GOOD}`);
        },
      });
      const error = await refusal(activate(failing, http('methodRule')));
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(controller.calls()).toBe(0);
      expect(logs.errors()).toEqual([expect.stringMatching(/failed unexpectedly \(Error\)/)]);
      expect(logs.errors().join('\n')).not.toContain(GOOD);
    });

    it('an async skip decision that resolves to a truthy non-boolean does not skip', async () => {
      const strict = await guardWith({ skipIf: () => Promise.resolve(1 as unknown as boolean) });
      const error = await refusal(activate(strict, http('methodRule', request())));
      expect(error).toBeInstanceOf(UnauthorizedException);
    });
  });

  describe('overriding toHttpException()', () => {
    let teapot: TeapotGuard;

    beforeAll(async () => {
      teapot = await guardWith({}, TeapotGuard);
    });

    beforeEach(() => {
      teapot.seen.length = 0;
      teapot.answer = new HttpException('HyperID lookup failed', 418);
    });

    it.each([
      [HyperIdResult.ServiceTemporarilyUnavailable, HyperIdServiceUnavailableError],
      [HyperIdResult.TokenInvalid, HyperIdTokenInvalidError],
    ])(
      'result %i: throws what the override returns, and sets none of the default headers',
      async (result, errorClass) => {
        controller.setToken(GOOD, result);
        const req = request(`Bearer ${GOOD}`);
        const error = await refusal(activate(teapot, http('methodRule', req)));
        expect(error).toBe(teapot.answer);
        expect(error.getStatus()).toBe(418);
        expect(teapot.seen).toEqual([expect.any(errorClass)]);
        expect(adapter.headers).toEqual([]);
        expect(req[VERIFIED_TWO_FACTOR_TYPES]).toBeUndefined();
      },
    );

    it('still refuses when the override returns nothing', async () => {
      teapot.answer = undefined;
      controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable);
      const outcome = activate(teapot, http('methodRule')).then(
        () => 'allowed',
        () => 'refused',
      );
      await expect(outcome).resolves.toBe('refused');
      expect(teapot.seen).toHaveLength(1);
    });

    it('is not asked about a request without a token, which is refused before any lookup', async () => {
      const error = await refusal(activate(teapot, http('methodRule', request())));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(teapot.seen).toEqual([]);
      expect(controller.calls()).toBe(0);
    });
  });

  describe('the hot path: an answer the cache holds', () => {
    let cached: TwoFactorGuard;

    beforeAll(async () => {
      cached = await guardWith({ cache: {} });
    });

    it('is enforced synchronously, without a lookup, for a new request with the same token', async () => {
      await expect(activate(cached, http('methodRule', request(`Bearer ${GOOD}`)))).resolves.toBe(true);
      controller.resetCalls();
      const req = request(`Bearer ${GOOD}`);
      expect(cached.canActivate(http('methodRule', req))).toBe(true);
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      expect(controller.calls()).toBe(0);
    });

    it('still refuses as a rejected promise, never by throwing', async () => {
      await activate(cached, http('methodRule', request(`Bearer ${GOOD}`)));
      controller.resetCalls();
      const outcome = cached.canActivate(http('classRule', request(`Bearer ${GOOD}`)));
      expect(outcome).toBeInstanceOf(Promise);
      await expect(outcome).rejects.toBeInstanceOf(TwoFactorRequiredException);
      expect(controller.calls()).toBe(0);
    });
  });

  describe('stepUp with some of its parameters', () => {
    it.each([
      [{ acrValues: 'urn:hyperid:2fa' }, ', acr_values="urn:hyperid:2fa"'],
      [{ maxAgeSeconds: 0 }, ', max_age="0"'],
      [{}, ''],
    ])('%p: the challenge carries only what is set', async (stepUp, extra) => {
      const stepping = await guardWith({ stepUp });
      const error = await refusal(activate(stepping, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorStepUpRequiredException);
      expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([
        [
          'WWW-Authenticate',
          'Bearer realm="hyperid", error="insufficient_user_authentication", ' +
            `error_description="Two-factor authentication with the required methods is needed"${extra}`,
        ],
      ]);
    });
  });

  describe('where the answer’s headers go', () => {
    it('sets none outside HTTP, where there is no response: the refusal is the same', async () => {
      const extracting = await guardWith({ tokenExtractor: () => 'unknown-token' });
      const rpc = contextFor(GuardedController, 'methodRule', [{ pattern: 'x' }, {}], 'rpc');
      const error = await refusal(activate(extracting, rpc));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(controller.calls('unknown-token')).toBe(1);
      expect(adapter.headers).toEqual([]);
    });

    it.each([
      ['', UnauthorizedException],
      ['a"b', BadRequestException],
    ])('sets none outside HTTP for the extracted token %p either', async (token, exceptionClass) => {
      const extracting = await guardWith({ tokenExtractor: () => token });
      const rpc = contextFor(GuardedController, 'methodRule', [{ pattern: 'x' }, {}], 'rpc');
      await expect(activate(extracting, rpc)).rejects.toBeInstanceOf(exceptionClass);
      expect(adapter.headers).toEqual([]);
    });

    it('answers the same without an HTTP adapter (a microservice-only app), setting no header', async () => {
      const bare = await guardWith();
      modules[modules.length - 1].get(HttpAdapterHost).httpAdapter = undefined as never;
      const error = await refusal(activate(bare, http('methodRule', request())));
      expect(error).toBeInstanceOf(UnauthorizedException);
      controller.setToken(GOOD, HyperIdResult.TokenInvalid);
      expect(await refusal(activate(bare, http('methodRule')))).toBeInstanceOf(UnauthorizedException);
      expect(adapter.headers).toEqual([]);
    });
  });

  describe('built by hand, without Nest’s HttpAdapterHost (as an app’s own unit test may)', () => {
    it('answers as usual and sets no header', async () => {
      await guardWith();
      const moduleRef = modules[modules.length - 1];
      const handmade = new TwoFactorGuard(
        moduleRef.get(Reflector),
        moduleRef.get(TwoFactorService),
        undefined as unknown as HttpAdapterHost,
        moduleRef.get(HYPERID_RESOLVED_OPTIONS),
      );
      await expect(activate(handmade, http('methodRule'))).resolves.toBe(true);
      expect(await refusal(activate(handmade, http('methodRule', request())))).toBeInstanceOf(
        UnauthorizedException,
      );
      expect(adapter.headers).toEqual([]);
    });
  });

  describe('requests as they come', () => {
    it('a request without a headers object: 401 with a bare challenge', async () => {
      const req = {} as TestRequest;
      const error = await refusal(activate(guard, http('methodRule', req)));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(adapter.headers).toEqual([BARE_CHALLENGE]);
    });

    it('a refusal logs nothing: skipping is not even considered without a skipIf option', async () => {
      await refusal(activate(guard, http('classRule')));
      await refusal(activate(guard, http('methodRule', request())));
      expect(logs.lines).toEqual([]);
    });

    it('names the context type when refusing a context it cannot read a token in', async () => {
      const error = await refusal(
        activate(guard, contextFor(GuardedController, 'methodRule', [{}, {}], 'rpc')),
      );
      expect(error.getStatus()).toBe(403);
      expect(error.message).toBe('Two-factor authentication cannot be verified in this context');
      expect(logs.errors()).toEqual([
        expect.stringMatching(
          /^@RequireTwoFactor\(\) on a "rpc" handler needs the tokenExtractor option; refusing\b/,
        ),
      ]);
    });
  });

  describe('one decision per handler call', () => {
    it('does not judge again a call it let through, even once the request carries another token', async () => {
      const req = request(`Bearer ${GOOD}`);
      const call = http('methodRule', req);
      await expect(activate(guard, call)).resolves.toBe(true);
      req.headers.authorization = `Bearer ${NONE}`;
      await expect(activate(guard, call)).resolves.toBe(true);
      expect(controller.calls(GOOD)).toBe(1);
      expect(controller.calls(NONE)).toBe(0);
    });

    it('accepts a call another TwoFactorGuard let through by skipping it', async () => {
      decide = () => true;
      const skipping = await guardWith({}, SkippingGuard);
      const call = http('methodRule', request());
      await expect(activate(skipping, call)).resolves.toBe(true);
      await expect(activate(guard, call)).resolves.toBe(true);
      expect(adapter.headers).toEqual([]);
      expect(controller.calls()).toBe(0);
    });

    it('accepts a call another TwoFactorGuard let through by an asynchronous skip', async () => {
      decide = () => Promise.resolve(true);
      const skipping = await guardWith({}, SkippingGuard);
      const call = http('methodRule', request());
      await expect(activate(skipping, call)).resolves.toBe(true);
      await expect(activate(guard, call)).resolves.toBe(true);
      expect(controller.calls()).toBe(0);
    });

    it('remembers no refusal: a refused call is judged again, and the next call too', async () => {
      const req = request();
      const call = http('methodRule', req);
      expect(await refusal(activate(guard, call))).toBeInstanceOf(UnauthorizedException);
      expect(await refusal(activate(guard, call))).toBeInstanceOf(UnauthorizedException);
      req.headers.authorization = `Bearer ${GOOD}`;
      await expect(activate(guard, call)).resolves.toBe(true);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('judges every call of a request on its own: a new call is not decided by an earlier one', async () => {
      const req = request(`Bearer ${GOOD}`);
      await expect(activate(guard, http('methodRule', req))).resolves.toBe(true);
      const error = await refusal(activate(guard, http('classRule', req)));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
    });
  });
  describe('WebSocket messages', () => {
    /** A socket.io socket: its handshake's headers and `auth` payload. */
    const ioSocket = (headers: Record<string, string> = {}, auth: Record<string, unknown> = {}) =>
      ({ handshake: { headers, auth } }) as Record<PropertyKey, unknown>;

    /** The execution context Nest builds for a message: the socket, the body, the event. */
    const message = (socket: object, handler: Handler = 'methodRule', data: unknown = {}) =>
      contextFor(GuardedController, handler, [socket, data, 'event'], 'ws');

    /** The refusal, which must be a WsException (anything else is "Internal server error" to the client). */
    async function wsError(promise: Promise<unknown>): Promise<TwoFactorWsError> {
      const error: unknown = await refusal(promise);
      expect(error).toBeInstanceOf(WsException);
      return (error as WsException).getError() as TwoFactorWsError;
    }

    /** A `ws` adapter as Nest's WsAdapter binds connections: `connection` listeners get (socket, request). */
    function wsAdapter() {
      const listeners: Array<(...args: unknown[]) => unknown> = [];
      const adapter = {
        create: () => ({}),
        bindClientConnect: (_server: unknown, callback: (...args: unknown[]) => unknown) =>
          void listeners.push(callback),
        bindMessageHandlers: () => undefined,
        close: () => undefined,
      };
      const connect = (socket: object, authorization?: string) => {
        const upgrade = { headers: authorization === undefined ? {} : { authorization } };
        for (const listener of listeners) listener(socket, upgrade);
        return upgrade;
      };
      return { adapter, connect };
    }

    it('reads the handshake’s Authorization header, and keeps the answer on the socket: one lookup per connection', async () => {
      const socket = ioSocket({ authorization: `Bearer ${GOOD}` });
      await expect(activate(guard, message(socket))).resolves.toBe(true);
      await expect(activate(guard, message(socket, 'anyOf'))).resolves.toBe(true);
      expect(controller.calls(GOOD)).toBe(1);
      expect(socket[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      expect(JSON.stringify(socket[VERIFIED_TWO_FACTOR_TYPES])).not.toContain(GOOD);
      expect(adapter.headers).toEqual([]);
    });

    it.each([GOOD, `Bearer ${GOOD}`])(
      'reads socket.io’s auth.token %p when there is no Authorization header',
      async (token) => {
        const socket = ioSocket({}, { token });
        await expect(activate(guard, message(socket))).resolves.toBe(true);
        expect(controller.calls(GOOD)).toBe(1);
      },
    );

    it('prefers the Authorization header to auth.token, and reads auth.token under another scheme', async () => {
      const both = ioSocket({ authorization: `Bearer ${NONE}` }, { token: GOOD });
      expect(await wsError(activate(guard, message(both)))).toMatchObject({
        statusCode: 403,
        missing: [AlternativeEmail],
      });
      const basic = ioSocket({ authorization: 'Basic dXNlcjpwYXNz' }, { token: GOOD });
      await expect(activate(guard, message(basic))).resolves.toBe(true);
      expect(controller.calls(NONE)).toBe(1);
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('never reads the message body: no handshake token is 401 with the bare challenge, HyperID not called', async () => {
      const error = await wsError(activate(guard, message(ioSocket(), 'methodRule', { token: GOOD })));
      expect(error).toEqual({
        status: 'error',
        statusCode: 401,
        error: 'Unauthorized',
        message: 'A bearer token is required',
        wwwAuthenticate: 'Bearer realm="hyperid"',
      });
      expect(controller.calls()).toBe(0);
      expect(adapter.headers).toEqual([]);
    });

    it.each(['', 'a b', 42, { token: GOOD }])(
      'auth.token %p: 400 invalid_request, HyperID not called',
      async (token) => {
        const error = await wsError(activate(guard, message(ioSocket({}, { token }))));
        expect(error).toMatchObject({
          statusCode: 400,
          error: 'Bad Request',
          wwwAuthenticate: 'Bearer realm="hyperid", error="invalid_request"',
        });
        expect(controller.calls()).toBe(0);
      },
    );

    it('a user lacking the required methods: 403 with mode, required and missing; nothing kept on the socket', async () => {
      const socket = ioSocket({ authorization: `Bearer ${GOOD}` });
      const error = await wsError(activate(guard, message(socket, 'allOf')));
      expect(error).toEqual({
        status: 'error',
        statusCode: 403,
        error: 'Forbidden',
        message: expect.any(String),
        mode: 'all',
        required: [HyperIdAuthenticator, Totp, Sms],
        missing: [Totp, Sms],
      });
      expect(socket[VERIFIED_TWO_FACTOR_TYPES]).toBeUndefined();
    });

    it.each([
      [HyperIdResult.TokenInvalid, 401, /^Bearer realm="hyperid", error="invalid_token"/],
      [HyperIdResult.AccessDenied, 403, /error="insufficient_scope", scope="second-factor-auth-client"$/],
    ])('result %i: %i with the challenge of the HTTP answer', async (result, statusCode, challenge) => {
      controller.setToken(GOOD, result);
      const error = await wsError(activate(guard, message(ioSocket({ authorization: `Bearer ${GOOD}` }))));
      expect(error).toMatchObject({ statusCode, wwwAuthenticate: expect.stringMatching(challenge) });
      expect(JSON.stringify(error)).not.toContain(GOOD);
    });

    it('HyperID unavailable: 503 with retryAfter in seconds', async () => {
      controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable);
      const error = await wsError(activate(guard, message(ioSocket({ authorization: `Bearer ${GOOD}` }))));
      expect(error).toMatchObject({ statusCode: 503, error: 'Service Unavailable', retryAfter: 1 });
      expect(error.wwwAuthenticate).toBeUndefined();
    });

    it('a tokenExtractor that throws fails closed: 503 inside a WsException', async () => {
      const extracting = await guardWith({
        tokenExtractor: () => {
          throw new TypeError(`no ${GOOD}`);
        },
      });
      const error = await wsError(
        activate(extracting, message(ioSocket({ authorization: `Bearer ${GOOD}` }))),
      );
      expect(error).toMatchObject({ statusCode: 503, retryAfter: 1 });
      expect(logs.lines.map((line) => line.text).join('\n')).not.toContain(GOOD);
    });

    it('stepUp: 401 with the RFC 9470 challenge', async () => {
      const stepUp = await guardWith({ stepUp: { acrValues: 'urn:hyperid:2fa' } });
      const error = await wsError(
        activate(stepUp, message(ioSocket({ authorization: `Bearer ${GOOD}` }), 'classRule')),
      );
      expect(error).toMatchObject({
        statusCode: 401,
        mode: 'all',
        missing: [Totp],
        wwwAuthenticate: expect.stringMatching(
          /error="insufficient_user_authentication".*acr_values="urn:hyperid:2fa"$/,
        ),
      });
      expect(adapter.headers).toEqual([]);
    });

    it('sends what an override of toHttpException() answers, with its own status and message', async () => {
      const teapot = await guardWith({}, TeapotGuard);
      controller.setToken(GOOD, HyperIdResult.TokenInvalid);
      const socket = ioSocket({ authorization: `Bearer ${GOOD}` });
      expect(await wsError(activate(teapot, message(socket)))).toEqual({
        status: 'error',
        statusCode: 418,
        message: 'HyperID lookup failed',
      });
      teapot.answer = undefined;
      await expect(activate(teapot, message(socket))).rejects.toBeUndefined();
    });

    it('uses tokenExtractor when set, not the handshake', async () => {
      const extracting = await guardWith({ tokenExtractor: () => NONE });
      const error = await wsError(
        activate(extracting, message(ioSocket({ authorization: `Bearer ${GOOD}` }))),
      );
      expect(error).toMatchObject({ statusCode: 403, missing: [AlternativeEmail] });
      expect(controller.calls(GOOD)).toBe(0);
    });

    it('looks up again once the socket’s answer has expired, and refuses the expired token', async () => {
      const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 1 })).toString(
        'base64url',
      );
      const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`;
      controller.setToken(jwt, [AlternativeEmail]);
      const socket = ioSocket({}, { token: jwt });
      await expect(activate(guard, message(socket))).resolves.toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await wsError(activate(guard, message(socket)))).toMatchObject({
        statusCode: 401,
        message: 'The access token has expired',
      });
      expect(controller.calls(jwt)).toBe(1);
    });

    it('a ws socket: reads the upgrade request keepUpgradeRequests() kept, and still hands it to the gateway', async () => {
      const { adapter: wrapped, connect } = wsAdapter();
      const seen: unknown[][] = [];
      expect(keepUpgradeRequests(wrapped)).toBe(wrapped);
      wrapped.bindClientConnect({}, (...args: unknown[]) => void seen.push(args));
      const socket = { readyState: 1 };
      const upgrade = connect(socket, `Bearer ${GOOD}`);
      expect(seen).toEqual([[socket, upgrade]]);
      await expect(activate(guard, message(socket))).resolves.toBe(true);
      const stranger = { readyState: 1 };
      connect(stranger);
      expect(await wsError(activate(guard, message(stranger)))).toMatchObject({ statusCode: 401 });
    });

    it('a ws socket whose handshake is unknown (no keepUpgradeRequests()): 403, logged, HyperID not called', async () => {
      const error = await wsError(activate(guard, message({ readyState: 1 }, 'methodRule', { token: GOOD })));
      expect(error).toMatchObject({
        statusCode: 403,
        message: 'Two-factor authentication cannot be verified in this context',
      });
      expect(logs.errors()).toEqual([expect.stringContaining('keepUpgradeRequests()')]);
      expect(controller.calls()).toBe(0);
    });
  });

  // The rollout tools of docs/rollout.md, path by path: conditions, report mode, enrollment URLs.

  describe('conditions (when)', () => {
    beforeEach(() => {
      conditionAsked.length = 0;
      condition = () => true;
    });

    /** Asserts the requirement applied to three calls: no token, a user lacking the method, one having it. */
    async function expectApplied(): Promise<void> {
      const noToken = await refusal(activate(guard, rollout('conditional', request())));
      expect(noToken).toBeInstanceOf(UnauthorizedException);
      expect(adapter.headers).toEqual([BARE_CHALLENGE]);
      const lacking = await refusal(activate(guard, rollout('conditional', request(`Bearer ${NONE}`))));
      expect(lacking).toBeInstanceOf(TwoFactorRequiredException);
      expect(lacking.getResponse()).toMatchObject({
        mode: 'all',
        required: [AlternativeEmail],
        missing: [AlternativeEmail],
      });
      await expect(activate(guard, rollout('conditional'))).resolves.toBe(true);
      expect(conditionAsked).toHaveLength(3);
      expect(controller.calls(NONE)).toBe(1);
      expect(controller.calls(GOOD)).toBe(1);
    }

    it.each([
      ['false', () => false],
      ['a promise of false', () => Promise.resolve(false)],
    ])(
      '%s: the call passes without a token, HyperID is not asked, nothing is set or logged',
      async (_name, answer) => {
        condition = answer;
        const call = rollout('conditional', request());
        await expect(activate(guard, call)).resolves.toBe(true);
        expect(conditionAsked).toEqual([call]);
        expect(controller.calls()).toBe(0);
        expect(adapter.headers).toEqual([]);
        expect(logs.lines).toEqual([]);
      },
    );

    it('false is answered synchronously: a cheap condition costs no promise', () => {
      condition = () => false;
      expect(atOnce(guard.canActivate(rollout('conditional', request())))).toBe(true);
      expect(controller.calls()).toBe(0);
    });

    it.each([true, undefined, null, 0, '', 'false', 1])(
      'answer %p: the requirement applies, nothing logged',
      async (answer) => {
        condition = () => answer as boolean;
        await expectApplied();
        expect(logs.lines).toEqual([]);
      },
    );

    it.each([true, undefined, null, 0])(
      'a promise of %p: the requirement applies, nothing logged',
      async (answer) => {
        condition = () => Promise.resolve(answer as boolean);
        await expectApplied();
        expect(logs.lines).toEqual([]);
      },
    );

    it.each([
      [
        'throws a TypeError',
        () => {
          throw new TypeError(`cannot read ${GOOD}`);
        },
        'TypeError',
      ],
      [
        'rejects with a RangeError',
        () => Promise.reject(new RangeError(`cannot read ${GOOD}`)),
        'RangeError',
      ],
      [
        'throws a string',
        () => {
          // eslint-disable-next-line @typescript-eslint/only-throw-error -- the case under test
          throw `cannot read ${GOOD}`;
        },
        'string',
      ],
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
      ['rejects without a reason', () => Promise.reject(undefined), 'undefined'],
    ])(
      'a condition that %s: asked once per call, the requirement applies, its class alone is logged',
      async (_how, outcome, name) => {
        condition = outcome;
        await expectApplied();
        expect(logs.lines).toEqual(
          Array.from({ length: 3 }, () => ({
            level: 'error',
            text: logged(`2FA condition failed (${name}); applying the requirement`),
          })),
        );
      },
    );

    it.each([
      ['false', () => false],
      ['a promise of false', () => Promise.resolve(false)],
    ])(
      '%s decides the call: another guard on it lets it through without asking again',
      async (_name, answer) => {
        condition = answer;
        const call = rollout('conditional', request());
        await expect(activate(guard, call)).resolves.toBe(true);
        condition = () => true;
        await expect(activate(guard, call)).resolves.toBe(true);
        expect(conditionAsked).toEqual([call]);
        expect(adapter.headers).toEqual([]);
      },
    );

    describe('after a skip decision', () => {
      let skipping: TwoFactorGuard;

      beforeAll(async () => {
        skipping = await guardWith({ skipIf: (context) => decide(context) });
      });

      const failures: Array<[string, HyperIdSkipIf, string]> = [
        [
          'throws',
          () => {
            throw new Error(`no session for ${GOOD}`);
          },
          'Error',
        ],
        ['rejects', () => Promise.reject(new TypeError(`no session for ${GOOD}`)), 'TypeError'],
      ];

      it.each(failures)(
        'a skip decision that %s goes on to the condition: false still exempts the call',
        async (_how, failing, name) => {
          decide = failing;
          condition = () => false;
          const call = rollout('conditional', request());
          await expect(activate(skipping, call)).resolves.toBe(true);
          expect(conditionAsked).toEqual([call]);
          expect(controller.calls()).toBe(0);
          expect(adapter.headers).toEqual([]);
          expect(logs.lines).toEqual([
            { level: 'error', text: logged(`2FA skip decision failed (${name}); applying the requirement`) },
          ]);
        },
      );

      it.each(failures)(
        'a skip decision that %s, then a condition that applies: the requirement applies',
        async (_how, failing, name) => {
          decide = failing;
          const error = await refusal(activate(skipping, rollout('conditional', request())));
          expect(error).toBeInstanceOf(UnauthorizedException);
          expect(adapter.headers).toEqual([BARE_CHALLENGE]);
          expect(conditionAsked).toHaveLength(1);
          expect(logs.errors()).toEqual([
            logged(`2FA skip decision failed (${name}); applying the requirement`),
          ]);
          expect(JSON.stringify(logs.lines)).not.toContain(GOOD);
        },
      );

      it('a failing skip decision, then a failing condition: both logged in turn, the requirement applies', async () => {
        decide = () => {
          throw new Error('session store down');
        };
        condition = () => Promise.reject(new RangeError('no amount'));
        const error = await refusal(activate(skipping, rollout('conditional', request())));
        expect(error).toBeInstanceOf(UnauthorizedException);
        expect(logs.errors()).toEqual([
          logged('2FA skip decision failed (Error); applying the requirement'),
          logged('2FA condition failed (RangeError); applying the requirement'),
        ]);
        expect(conditionAsked).toHaveLength(1);
      });

      it.each([
        ['false', () => false],
        ['a promise of false', () => Promise.resolve(false)],
      ])('a skip decision of %s asks the condition', async (_name, answer) => {
        decide = answer;
        condition = () => false;
        const call = rollout('conditional', request());
        await expect(activate(skipping, call)).resolves.toBe(true);
        expect(conditionAsked).toEqual([call]);
        expect(logs.lines).toEqual([]);
      });

      it.each([
        ['true', () => true],
        ['a promise of true', () => Promise.resolve(true)],
      ])('a skip decision of %s: the condition is not asked', async (_name, answer) => {
        decide = answer;
        await expect(activate(skipping, rollout('conditional', request()))).resolves.toBe(true);
        expect(conditionAsked).toEqual([]);
        expect(controller.calls()).toBe(0);
      });
    });
  });

  describe('report mode', () => {
    const reader = new PullReader();
    const events: TwoFactorWouldRefuseEvent[] = [];
    /** What the hook under test does with an event; each test may set it. */
    let hook: HyperIdWouldRefuseHook;
    const onWouldRefuse: HyperIdWouldRefuseHook = (event) => hook(event);
    /** The module in report mode, with the hook. */
    let reporting: TwoFactorGuard;
    /** The module enforcing, with the hook: only requirements in report mode of their own report. */
    let enforcing: TwoFactorGuard;
    let countedBefore: Record<string, number> = {};

    /** The would-refuse counter so far, as `route reason` → count; it carries no other attribute. */
    async function wouldRefuseCounts(): Promise<Record<string, number>> {
      const { resourceMetrics } = await reader.collect();
      const counts: Record<string, number> = {};
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (metric.descriptor.name !== 'hyperid.guard.would_refuse') continue;
          for (const point of metric.dataPoints) {
            expect(Object.keys(point.attributes).sort()).toEqual(['hyperid.reason', 'hyperid.route']);
            const { 'hyperid.route': route, 'hyperid.reason': reason } = point.attributes;
            counts[`${String(route)} ${String(reason)}`] = point.value as number;
          }
        }
      }
      return counts;
    }

    /** What the counter counted since the test began. */
    async function countedHere(): Promise<Record<string, number>> {
      const delta: Record<string, number> = {};
      for (const [key, count] of Object.entries(await wouldRefuseCounts())) {
        if (count !== (countedBefore[key] ?? 0)) delta[key] = count - (countedBefore[key] ?? 0);
      }
      return delta;
    }

    /** Asserts one refusal was recorded in each of its three places (log, counter, hook); returns the event. */
    async function recordedOnce(
      route: string,
      status: number,
      reason: string,
    ): Promise<TwoFactorWouldRefuseEvent> {
      expect(logs.warnings()).toEqual([
        logged(`2FA would refuse ${route}: ${status} ${reason} (report mode)`),
      ]);
      expect(await countedHere()).toEqual({ [`${route} ${reason}`]: 1 });
      expect(events).toHaveLength(1);
      return events[0];
    }

    /** A guard of a module built in the test, without the start-up warnings its options cause. */
    async function quietGuardWith<G extends TwoFactorGuard = TwoFactorGuard>(
      options: HyperIdModuleOptions,
      guardClass?: Type<G>,
    ): Promise<G> {
      const built = await guardWith(options, guardClass);
      logs.clear();
      return built;
    }

    beforeAll(() => {
      metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    });

    afterAll(() => {
      metrics.disable();
    });

    beforeEach(async () => {
      // Fresh guards: each test sees the first warning of its route and reason, not a rate-limited one.
      reporting = await quietGuardWith({ enforce: 'report', onWouldRefuse });
      enforcing = await quietGuardWith({ onWouldRefuse });
      events.length = 0;
      hook = (event) => void events.push(event);
      conditionAsked.length = 0;
      condition = () => true;
      countedBefore = await wouldRefuseCounts();
    });

    it('a user lacking the methods passes: looked up once, one record with the missing types, no header', async () => {
      const req = request(`Bearer ${GOOD}`);
      const call = rollout('byDefault', req);
      await expect(activate(reporting, call)).resolves.toBe(true);
      const event = await recordedOnce('RolloutController.byDefault', 403, 'missing_methods');
      expect(event).toStrictEqual({
        route: 'RolloutController.byDefault',
        reason: 'missing_methods',
        status: 403,
        mode: 'all',
        required: [Totp],
        missing: [Totp],
        context: call,
      });
      expect(event.context).toBe(call);
      expect(controller.calls(GOOD)).toBe(1);
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      expect(adapter.headers).toEqual([]);
      expect(logs.errors()).toEqual([]);
      expect(JSON.stringify([{ ...event, context: undefined }, logs.lines])).not.toContain(GOOD);
    });

    it('a flood of one route and reason logs a line a minute, counting the rest; the counter and the hook see each', async () => {
      const start = Date.now();
      const clock = jest.spyOn(Date, 'now').mockReturnValue(start);
      const refuse = (authorization?: string) =>
        expect(atOnce(reporting.canActivate(rollout('byDefault', request(authorization))))).toBe(true);
      try {
        for (let i = 0; i < 5; i += 1) refuse();
        // Another reason of the same route has a line of its own.
        refuse('Bearer a"b');
        clock.mockReturnValue(start + WARNING_LOG_INTERVAL_MS - 1);
        refuse();
        clock.mockReturnValue(start + WARNING_LOG_INTERVAL_MS);
        refuse();
        refuse();
      } finally {
        clock.mockRestore();
      }
      expect(logs.warnings()).toEqual([
        logged('2FA would refuse RolloutController.byDefault: 401 no_token (report mode)'),
        logged('2FA would refuse RolloutController.byDefault: 400 malformed_token (report mode)'),
        logged(
          '2FA would refuse RolloutController.byDefault: 401 no_token (report mode; 5 more since the last line)',
        ),
      ]);
      expect(events).toHaveLength(9);
      expect(await countedHere()).toEqual({
        'RolloutController.byDefault no_token': 8,
        'RolloutController.byDefault malformed_token': 1,
      });
    });

    it('a user who meets the requirement passes with nothing recorded, the verified types on the request', async () => {
      const req = request(`Bearer ${GOOD}`);
      await expect(activate(reporting, http('methodRule', req))).resolves.toBe(true);
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
      expect(controller.calls(GOOD)).toBe(1);
      expect(events).toEqual([]);
      expect(await countedHere()).toEqual({});
      expect(logs.lines).toEqual([]);
    });

    it.each([
      ['no Authorization header', undefined, 401, 'no_token'],
      ['the Basic scheme', 'Basic dXNlcjpwYXNz', 401, 'no_token'],
      ['Bearer without a token', 'Bearer', 400, 'malformed_token'],
      ['a malformed token', 'Bearer a"b', 400, 'malformed_token'],
    ])(
      '%s: passes at once, recorded with its status and reason, no challenge, no lookup',
      async (_what, authorization, status, reason) => {
        const req = request(authorization);
        const call = rollout('byDefault', req);
        expect(atOnce(reporting.canActivate(call))).toBe(true);
        expect(await recordedOnce('RolloutController.byDefault', status, reason)).toStrictEqual({
          route: 'RolloutController.byDefault',
          reason,
          status,
          mode: 'all',
          required: [Totp],
          context: call,
        });
        expect(adapter.headers).toEqual([]);
        expect(controller.calls()).toBe(0);
        expect(req[VERIFIED_TWO_FACTOR_TYPES]).toBeUndefined();
        expect(logs.errors()).toEqual([]);
      },
    );

    it.each([
      [
        'an invalid token',
        () => void controller.setToken(GOOD, HyperIdResult.TokenInvalid),
        401,
        'token_invalid',
      ],
      [
        'an expired token',
        () => void controller.setToken(GOOD, HyperIdResult.TokenExpired),
        401,
        'token_expired',
      ],
      [
        'access denied',
        () => void controller.setToken(GOOD, HyperIdResult.AccessDenied),
        403,
        'access_denied',
      ],
      [
        'HyperID unavailable',
        () => void controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable),
        503,
        'unavailable',
      ],
      [
        'invalid parameters',
        () => void controller.setToken(GOOD, HyperIdResult.InvalidParameters),
        502,
        'invalid_request',
      ],
      [
        'an unknown result code',
        () => void controller.setToken(GOOD, -42 as HyperIdResult),
        502,
        'upstream_error',
      ],
      ['a malformed answer', () => void (client.malformed = true), 502, 'upstream_error'],
      [
        'HTTP 429',
        () =>
          void (client.failure = new HyperIdRateLimitedError('HyperID answered 429', {
            retryAfterSeconds: 7,
          })),
        503,
        'rate_limited',
      ],
      [
        'an open circuit breaker',
        () => void (client.failure = new HyperIdCircuitOpenError('open', { retryAfterSeconds: 9 })),
        503,
        'circuit_open',
      ],
      ['a full bulkhead', () => void (client.failure = new HyperIdBusyError('busy')), 503, 'busy'],
    ])(
      '%s: passes, recorded with the status enforcing would answer, no header, nothing kept',
      async (_what, fault, status, reason) => {
        fault();
        const req = request(`Bearer ${GOOD}`);
        const call = rollout('byDefault', req);
        await expect(activate(reporting, call)).resolves.toBe(true);
        expect(await recordedOnce('RolloutController.byDefault', status, reason)).toStrictEqual({
          route: 'RolloutController.byDefault',
          reason,
          status,
          mode: 'all',
          required: [Totp],
          context: call,
        });
        expect(adapter.headers).toEqual([]);
        expect(req[VERIFIED_TWO_FACTOR_TYPES]).toBeUndefined();
        expect(logs.errors()).toEqual([]);
      },
    );

    it('a JWT past its exp: token_expired 401, HyperID not asked', async () => {
      const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) - 60 })).toString(
        'base64url',
      );
      const call = rollout('byDefault', request(`Bearer eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`));
      await expect(activate(reporting, call)).resolves.toBe(true);
      await recordedOnce('RolloutController.byDefault', 401, 'token_expired');
      expect(controller.calls()).toBe(0);
    });

    it('a context it cannot read a token in: passes, recorded as unsupported_context 403, the cause logged', async () => {
      const call = contextFor(RolloutController, 'byDefault', [{ pattern: 'x' }, {}], 'rpc');
      expect(atOnce(reporting.canActivate(call))).toBe(true);
      expect(await recordedOnce('RolloutController.byDefault', 403, 'unsupported_context')).toStrictEqual({
        route: 'RolloutController.byDefault',
        reason: 'unsupported_context',
        status: 403,
        mode: 'all',
        required: [Totp],
        context: call,
      });
      expect(logs.errors()).toEqual([
        logged('@RequireTwoFactor() on a "rpc" handler needs the tokenExtractor option; refusing'),
      ]);
      expect(controller.calls()).toBe(0);
    });

    it('a WebSocket message: looked up through its handshake, the types kept on the socket, no WsException', async () => {
      const socket: Record<PropertyKey, unknown> = {
        handshake: { headers: { authorization: `Bearer ${GOOD}` }, auth: {} },
      };
      const call = contextFor(RolloutController, 'byDefault', [socket, {}, 'event'], 'ws');
      await expect(activate(reporting, call)).resolves.toBe(true);
      expect(await recordedOnce('RolloutController.byDefault', 403, 'missing_methods')).toMatchObject({
        missing: [Totp],
      });
      expect(socket[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
    });

    it('a ws socket whose handshake is unknown: passes, recorded as unsupported_context 403', async () => {
      const call = contextFor(RolloutController, 'byDefault', [{ readyState: 1 }, {}, 'event'], 'ws');
      expect(atOnce(reporting.canActivate(call))).toBe(true);
      await recordedOnce('RolloutController.byDefault', 403, 'unsupported_context');
      expect(logs.errors()).toEqual([
        logged(
          '@RequireTwoFactor() on a "ws" handler found no handshake to read the token from: wrap a ws ' +
            'adapter with keepUpgradeRequests() (docs/websockets.md), or set the tokenExtractor option; refusing',
        ),
      ]);
      expect(controller.calls()).toBe(0);
    });

    it('tokenExtractor in a context without a request: looked up and recorded, nothing kept anywhere', async () => {
      const extracting = await quietGuardWith({
        enforce: 'report',
        tokenExtractor: () => GOOD,
        onWouldRefuse,
      });
      const call = contextFor(RolloutController, 'byDefault', [{ pattern: 'x' }, {}], 'rpc');
      await expect(activate(extracting, call)).resolves.toBe(true);
      expect(await recordedOnce('RolloutController.byDefault', 403, 'missing_methods')).toMatchObject({
        missing: [Totp],
      });
      expect(controller.calls(GOOD)).toBe(1);
    });

    it('a tokenExtractor that throws: passes, recorded as the 503 enforcing would answer, logged by class', async () => {
      const failing = await quietGuardWith({
        enforce: 'report',
        onWouldRefuse,
        tokenExtractor: () => {
          throw new TypeError(`cannot parse ${GOOD}`);
        },
      });
      expect(atOnce(failing.canActivate(rollout('byDefault')))).toBe(true);
      await recordedOnce('RolloutController.byDefault', 503, 'upstream_error');
      expect(logs.errors()).toEqual([logged('2FA check failed unexpectedly (TypeError)')]);
      expect(adapter.headers).toEqual([]);
      expect(JSON.stringify(logs.lines)).not.toContain(GOOD);
    });

    it('with stepUp: a missing-methods refusal would be 401, and still no challenge is set', async () => {
      const stepping = await quietGuardWith({
        enforce: 'report',
        onWouldRefuse,
        stepUp: { acrValues: 'urn:hyperid:2fa' },
      });
      const call = rollout('byDefault');
      await expect(activate(stepping, call)).resolves.toBe(true);
      expect(await recordedOnce('RolloutController.byDefault', 401, 'missing_methods')).toStrictEqual({
        route: 'RolloutController.byDefault',
        reason: 'missing_methods',
        status: 401,
        mode: 'all',
        required: [Totp],
        missing: [Totp],
        context: call,
      });
      expect(adapter.headers).toEqual([]);
    });

    it('a call built without a class (by hand) is still let through and recorded under its handler', async () => {
      const call = new ExecutionContextHost(
        [request(), { id: 'response' }, () => undefined],
        undefined,
        RolloutController.prototype.byDefault,
      );
      call.setType('http');
      expect(atOnce(reporting.canActivate(call))).toBe(true);
      expect(events.map((event) => event.route)).toEqual([expect.stringMatching(/\.byDefault$/)]);
    });

    describe('which requirements report', () => {
      it('a requirement’s own enforce: report, in a module that enforces', async () => {
        const call = rollout('reported');
        await expect(activate(enforcing, call)).resolves.toBe(true);
        expect(await recordedOnce('RolloutController.reported', 403, 'missing_methods')).toStrictEqual({
          route: 'RolloutController.reported',
          reason: 'missing_methods',
          status: 403,
          mode: 'all',
          required: [Totp, AlternativeEmail],
          missing: [Totp],
          context: call,
        });
      });

      it('a class’s requirement in report mode, for a route without its own: mode any', async () => {
        const call = rollout('classRule', request(`Bearer ${NONE}`));
        await expect(activate(enforcing, call)).resolves.toBe(true);
        expect(await recordedOnce('RolloutController.classRule', 403, 'missing_methods')).toStrictEqual({
          route: 'RolloutController.classRule',
          reason: 'missing_methods',
          status: 403,
          mode: 'any',
          required: [Totp, Sms],
          missing: [Totp, Sms],
          context: call,
        });
      });

      it('a requirement’s own enforce: enforce, in a module in report mode: refused as usual, nothing recorded', async () => {
        const noToken = await refusal(activate(reporting, rollout('enforced', request())));
        expect(noToken).toBeInstanceOf(UnauthorizedException);
        expect(adapter.headers).toEqual([BARE_CHALLENGE]);
        const lacking = await refusal(activate(reporting, rollout('enforced')));
        expect(lacking).toBeInstanceOf(TwoFactorRequiredException);
        expect(lacking.getResponse()).toMatchObject({ missing: [Totp] });
        expect(events).toEqual([]);
        expect(await countedHere()).toEqual({});
        expect(logs.lines).toEqual([]);
      });

      it('a requirement without its own enforce follows the module: refused here, reported in report mode', async () => {
        const refused = await refusal(activate(enforcing, rollout('byDefault')));
        expect(refused).toBeInstanceOf(TwoFactorRequiredException);
        expect(events).toEqual([]);
        expect(await countedHere()).toEqual({});
        await expect(activate(reporting, rollout('byDefault'))).resolves.toBe(true);
        await recordedOnce('RolloutController.byDefault', 403, 'missing_methods');
      });

      it('without the hook: the log line and the counter, nothing else', async () => {
        await expect(activate(guard, rollout('reported'))).resolves.toBe(true);
        expect(logs.lines).toEqual([
          {
            level: 'warn',
            text: logged('2FA would refuse RolloutController.reported: 403 missing_methods (report mode)'),
          },
        ]);
        expect(await countedHere()).toEqual({ 'RolloutController.reported missing_methods': 1 });
        expect(events).toEqual([]);
      });

      it('a condition answering false: nothing recorded, HyperID not asked; true: recorded', async () => {
        condition = () => false;
        const exempt = rollout('reportedWhen', request());
        await expect(activate(enforcing, exempt)).resolves.toBe(true);
        expect(conditionAsked).toEqual([exempt]);
        expect(events).toEqual([]);
        expect(await countedHere()).toEqual({});
        expect(logs.lines).toEqual([]);
        condition = () => Promise.resolve(true);
        await expect(activate(enforcing, rollout('reportedWhen', request()))).resolves.toBe(true);
        await recordedOnce('RolloutController.reportedWhen', 401, 'no_token');
        expect(controller.calls()).toBe(0);
      });

      it('a condition that throws: logged, and the requirement reports', async () => {
        condition = () => {
          throw new TypeError('no amount');
        };
        expect(atOnce(enforcing.canActivate(rollout('reportedWhen', request())))).toBe(true);
        await recordedOnce('RolloutController.reportedWhen', 401, 'no_token');
        expect(logs.errors()).toEqual([logged('2FA condition failed (TypeError); applying the requirement')]);
      });
    });

    describe('a hook that fails', () => {
      it.each([
        [
          'throws',
          () => {
            throw new TypeError(`saw ${GOOD}`);
          },
          'TypeError',
        ],
        [
          'throws a string',
          () => {
            // eslint-disable-next-line @typescript-eslint/only-throw-error -- the case under test
            throw `saw ${GOOD}`;
          },
          'string',
        ],
      ])(
        'a hook that %s is logged by class; the call passes and is recorded all the same',
        async (_how, failing, name) => {
          hook = failing;
          expect(atOnce(reporting.canActivate(rollout('byDefault', request())))).toBe(true);
          expect(logs.errors()).toEqual([logged(`onWouldRefuse failed (${name})`)]);
          expect(logs.warnings()).toEqual([
            logged('2FA would refuse RolloutController.byDefault: 401 no_token (report mode)'),
          ]);
          expect(await countedHere()).toEqual({ 'RolloutController.byDefault no_token': 1 });
          await expect(activate(reporting, rollout('byDefault'))).resolves.toBe(true);
          expect(logs.errors()).toEqual([
            logged(`onWouldRefuse failed (${name})`),
            logged(`onWouldRefuse failed (${name})`),
          ]);
          expect(JSON.stringify(logs.lines)).not.toContain(GOOD);
        },
      );

      it.each([
        ['rejects', () => Promise.reject(new RangeError(`saw ${GOOD}`)), 'RangeError'],
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the case under test
        ['rejects without a reason', () => Promise.reject(undefined), 'undefined'],
      ])('a hook that %s is logged by class once it has; the call passes', async (_how, failing, name) => {
        hook = failing;
        expect(atOnce(reporting.canActivate(rollout('byDefault', request())))).toBe(true);
        await settle();
        expect(logs.errors()).toEqual([logged(`onWouldRefuse failed (${name})`)]);
        expect(await countedHere()).toEqual({ 'RolloutController.byDefault no_token': 1 });
        expect(JSON.stringify(logs.lines)).not.toContain(GOOD);
      });

      it('a hook that resolves: nothing logged but the record', async () => {
        hook = async (event) => {
          events.push(event);
        };
        await expect(activate(reporting, rollout('byDefault'))).resolves.toBe(true);
        await settle();
        await recordedOnce('RolloutController.byDefault', 403, 'missing_methods');
        expect(logs.errors()).toEqual([]);
      });
    });

    describe('one record per call', () => {
      it('a second guard on the same call neither records again nor judges it: an enforcing one lets it through', async () => {
        const call = rollout('byDefault', request(`Bearer ${NONE}`));
        await expect(activate(reporting, call)).resolves.toBe(true);
        await expect(activate(reporting, call)).resolves.toBe(true);
        await expect(activate(enforcing, call)).resolves.toBe(true);
        await recordedOnce('RolloutController.byDefault', 403, 'missing_methods');
        expect(controller.calls(NONE)).toBe(1);
      });

      it('so does a call recorded without a lookup', async () => {
        const call = rollout('byDefault', request());
        expect(atOnce(reporting.canActivate(call))).toBe(true);
        expect(atOnce(reporting.canActivate(call))).toBe(true);
        await expect(activate(guard, call)).resolves.toBe(true);
        await recordedOnce('RolloutController.byDefault', 401, 'no_token');
        expect(adapter.headers).toEqual([]);
      });

      it('and a call that met the requirement: another guard does not even ask its skip decision', async () => {
        const asked: ExecutionContext[] = [];
        decide = (context) => {
          asked.push(context);
          return false;
        };
        const probe = await quietGuardWith({}, SkippingGuard);
        const call = http('methodRule');
        await expect(activate(reporting, call)).resolves.toBe(true);
        await expect(activate(probe, call)).resolves.toBe(true);
        expect(asked).toEqual([]);
        const undecided = http('methodRule');
        await expect(activate(probe, undecided)).resolves.toBe(true);
        expect(asked).toEqual([undecided]);
      });
    });

    describe('the hot path: an answer the cache holds', () => {
      let cached: TwoFactorGuard;

      beforeAll(async () => {
        cached = await guardWith({ cache: {}, enforce: 'report', onWouldRefuse });
      });

      it('is reported synchronously, without a lookup, for a new request with the same token', async () => {
        await expect(activate(cached, rollout('byDefault'))).resolves.toBe(true);
        controller.resetCalls();
        const req = request(`Bearer ${GOOD}`);
        const call = rollout('byDefault', req);
        expect(atOnce(cached.canActivate(call))).toBe(true);
        expect(controller.calls()).toBe(0);
        expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
          authTypes: [HyperIdAuthenticator, AlternativeEmail],
        });
        expect(events.map((event) => event.context)).toEqual([expect.anything(), call]);
        expect(events[1]).toStrictEqual({
          route: 'RolloutController.byDefault',
          reason: 'missing_methods',
          status: 403,
          mode: 'all',
          required: [Totp],
          missing: [Totp],
          context: call,
        });
        expect(await countedHere()).toEqual({ 'RolloutController.byDefault missing_methods': 2 });
        expect(atOnce(cached.canActivate(http('methodRule')))).toBe(true);
        expect(events).toHaveLength(2);
      });
    });
  });

  describe('enrollmentUrl', () => {
    const SETTINGS = '/settings/security';
    /** What the enrollmentUrl function under test answers; each test may set it. */
    let enroll: (missing: readonly TwoFactorType[]) => unknown;
    /** The missing types the function was asked about, call by call. */
    const enrolled: TwoFactorType[][] = [];
    const byFunction = (missing: readonly TwoFactorType[]) => {
      enrolled.push([...missing]);
      return enroll(missing) as string | undefined;
    };
    let withString: TwoFactorGuard;
    let withFunction: TwoFactorGuard;
    let stepping: TwoFactorGuard;

    beforeAll(async () => {
      withString = await guardWith({ enrollmentUrl: SETTINGS });
      withFunction = await guardWith({ enrollmentUrl: byFunction });
      stepping = await guardWith({ enrollmentUrl: byFunction, stepUp: { acrValues: 'urn:hyperid:2fa' } });
    });

    beforeEach(() => {
      enrolled.length = 0;
      enroll = () => SETTINGS;
    });

    const STEP_UP_CHALLENGE = [
      'WWW-Authenticate',
      'Bearer realm="hyperid", error="insufficient_user_authentication", ' +
        'error_description="Two-factor authentication with the required methods is needed", ' +
        'acr_values="urn:hyperid:2fa"',
    ];

    it('a string: in the body of the missing-methods 403', async () => {
      const error = await refusal(activate(withString, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getStatus()).toBe(403);
      expect(error.getResponse()).toStrictEqual({
        statusCode: 403,
        message: 'Two-factor authentication required: enable every required method',
        error: 'Forbidden',
        mode: 'all',
        required: [Totp],
        missing: [Totp],
        enrollment_url: SETTINGS,
      });
      expect(adapter.headers).toEqual([]);
      expect(logs.lines).toEqual([]);
    });

    it('a function: asked once with the missing types, its answer in the body', async () => {
      enroll = (missing) =>
        missing.includes(Totp) ? 'https://accounts.example.com/security/totp' : SETTINGS;
      const lackingTotp = await refusal(activate(withFunction, http('allOf')));
      expect(lackingTotp).toBeInstanceOf(TwoFactorRequiredException);
      expect(lackingTotp.getResponse()).toMatchObject({
        missing: [Totp, Sms],
        enrollment_url: 'https://accounts.example.com/security/totp',
      });
      const lackingEmail = await refusal(
        activate(withFunction, http('methodRule', request(`Bearer ${NONE}`))),
      );
      expect(lackingEmail.getResponse()).toMatchObject({
        missing: [AlternativeEmail],
        enrollment_url: SETTINGS,
      });
      expect(enrolled).toEqual([[Totp, Sms], [AlternativeEmail]]);
      expect(logs.lines).toEqual([]);
    });

    it.each([
      'javascript:alert(1)',
      '//evil.example/enroll',
      '/\\evil.example',
      'http://accounts.example.com/security',
      'https://user:secret@accounts.example.com/security',
      'settings/security',
      '',
      undefined,
      42,
      { href: SETTINGS },
    ])('a function answering %p: left out, nothing logged, the 403 stands', async (answer) => {
      enroll = () => answer;
      const error = await refusal(activate(withFunction, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getResponse()).toStrictEqual({
        statusCode: 403,
        message: 'Two-factor authentication required: enable every required method',
        error: 'Forbidden',
        mode: 'all',
        required: [Totp],
        missing: [Totp],
      });
      expect((error as TwoFactorRequiredException).enrollmentUrl).toBeUndefined();
      expect(enrolled).toEqual([[Totp]]);
      expect(logs.lines).toEqual([]);
    });

    it('a function that throws: logged by class only, the 403 stands without it', async () => {
      enroll = () => {
        throw new TypeError(`no page for ${GOOD}`);
      };
      const error = await refusal(activate(withFunction, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getResponse()).toMatchObject({ missing: [Totp] });
      expect(error.getResponse()).not.toHaveProperty('enrollment_url');
      expect(logs.lines).toEqual([
        { level: 'error', text: logged('enrollmentUrl failed (TypeError); answering without it') },
      ]);
    });

    it('the step-up 401 carries it in its body, never in its challenge', async () => {
      const error = await refusal(activate(stepping, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorStepUpRequiredException);
      expect(error.getResponse()).toStrictEqual({
        statusCode: 401,
        message: 'Two-factor authentication required: enable every required method',
        error: 'Unauthorized',
        mode: 'all',
        required: [Totp],
        missing: [Totp],
        enrollment_url: SETTINGS,
      });
      expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([STEP_UP_CHALLENGE]);
      expect(enrolled).toEqual([[Totp]]);
    });

    it('a step-up whose function throws: the 401 and its challenge stand without it', async () => {
      enroll = () => {
        throw new RangeError('no page');
      };
      const error = await refusal(activate(stepping, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorStepUpRequiredException);
      expect(error.getResponse()).not.toHaveProperty('enrollment_url');
      expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([STEP_UP_CHALLENGE]);
      expect(logs.errors()).toEqual([logged('enrollmentUrl failed (RangeError); answering without it')]);
    });

    it.each([
      ['a string', { enrollmentUrl: SETTINGS }, []],
      ['a function, with stepUp', { enrollmentUrl: byFunction, stepUp: {} }, [[Totp, AlternativeEmail]]],
    ])(
      'an overridden throwTwoFactorRequired() that returns: the 403 it falls back to carries it (%s)',
      async (_how, options: HyperIdModuleOptions, asked) => {
        const lenient = await guardWith(options, LenientGuard);
        const error = await refusal(activate(lenient, http('anyOf', request(`Bearer ${NONE}`))));
        expect(error).toBeInstanceOf(TwoFactorRequiredException);
        expect(error.getResponse()).toStrictEqual({
          statusCode: 403,
          message: 'Two-factor authentication required: enable one of the required methods',
          error: 'Forbidden',
          mode: 'any',
          required: [Totp, AlternativeEmail],
          missing: [Totp, AlternativeEmail],
          enrollment_url: SETTINGS,
        });
        expect(adapter.headers).toEqual([]);
        expect(enrolled).toEqual(asked);
      },
    );

    it('an overriding guard whose function throws: the fallback 403 stands without it', async () => {
      enroll = () => {
        throw new TypeError('no page');
      };
      const lenient = await guardWith({ enrollmentUrl: byFunction }, LenientGuard);
      const error = await refusal(activate(lenient, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getResponse()).not.toHaveProperty('enrollment_url');
      expect(logs.errors()).toEqual([logged('enrollmentUrl failed (TypeError); answering without it')]);
    });

    it.each([
      ['no token', () => undefined, () => http('classRule', request()), 401],
      ['a malformed token', () => undefined, () => http('classRule', request('Bearer a"b')), 400],
      [
        'an invalid token',
        () => void controller.setToken(GOOD, HyperIdResult.TokenInvalid),
        () => http('classRule'),
        401,
      ],
      [
        'access denied',
        () => void controller.setToken(GOOD, HyperIdResult.AccessDenied),
        () => http('classRule'),
        403,
      ],
      [
        'HyperID unavailable',
        () => void controller.setToken(GOOD, HyperIdResult.ServiceTemporarilyUnavailable),
        () => http('classRule'),
        503,
      ],
      ['a malformed answer', () => void (client.malformed = true), () => http('classRule'), 502],
      [
        'a context it cannot read a token in',
        () => undefined,
        () => contextFor(GuardedController, 'classRule', [{}, {}], 'rpc'),
        403,
      ],
    ])('%s: no enrollment_url, and the function is not asked', async (_what, fault, call, status) => {
      fault();
      for (const guarded of [withString, withFunction, stepping]) {
        const error = await refusal(activate(guarded, call()));
        expect(error.getStatus()).toBe(status);
        expect(error.getResponse()).not.toHaveProperty('enrollment_url');
        expect(JSON.stringify(error.getResponse())).not.toContain(SETTINGS);
      }
      expect(enrolled).toEqual([]);
    });

    it('a user who meets the requirement passes, and the function is not asked', async () => {
      await expect(activate(withFunction, http('methodRule'))).resolves.toBe(true);
      expect(enrolled).toEqual([]);
    });

    it('a WebSocket message’s 403 carries it in the WsException', async () => {
      const socket = { handshake: { headers: { authorization: `Bearer ${GOOD}` }, auth: {} } };
      const error: unknown = await refusal(
        activate(withString, contextFor(GuardedController, 'classRule', [socket, {}, 'event'], 'ws')),
      );
      expect(error).toBeInstanceOf(WsException);
      expect((error as WsException).getError()).toMatchObject({
        statusCode: 403,
        missing: [Totp],
        enrollment_url: SETTINGS,
      });
    });
  });
});
