import { VERIFIED_TWO_FACTOR_TYPES, PENDING_TWO_FACTOR_LOOKUP } from './hyperid.constants.js';
import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  BadGatewayException,
  BadRequestException,
  ForbiddenException,
  HttpException,
  ServiceUnavailableException,
  UnauthorizedException,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { Test, type TestingModule } from '@nestjs/testing';
import { HyperIdResult } from './hyperid-result.enum.js';

import { HyperIdModule } from './hyperid.module.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import { RequireTwoFactor, SkipTwoFactor } from './require-two-factor.decorator.js';
import { FakeHyperIdServer } from './testing/index.js';
import {
  TwoFactorRequiredException,
  TwoFactorStepUpRequiredException,
} from './errors/two-factor.exceptions.js';
import { TwoFactorGuard } from './two-factor.guard.js';
import { TwoFactorService } from './two-factor.service.js';
import type { ResolvedHyperIdOptions } from './hyperid.options.js';
import { TwoFactorType } from './two-factor-type.enum.js';

/** canActivate() answers a cache hit synchronously; the specs read every outcome as a promise. */
const activate = (guard: TwoFactorGuard, context: ExecutionContext) =>
  Promise.resolve().then(() => guard.canActivate(context));

const { HyperIdAuthenticator, Totp, Sms, AlternativeEmail } = TwoFactorType;

const GOOD = 'good-token'; // [HyperIdAuthenticator, AlternativeEmail]
const NONE = 'none-token'; // []
const FUTURE = 'future-token'; // [42]: a type this version does not know

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

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

type Handler = keyof GuardedController | keyof OpenController;

/** Records the headers the guard sets through the HTTP adapter. */
class RecordingAdapter {
  readonly headers: Array<{ response: unknown; name: string; value: string }> = [];
  setHeader(response: unknown, name: string, value: string): void {
    this.headers.push({ response, name, value });
  }
}

function request(authorization?: string): Record<PropertyKey, unknown> & { headers: Record<string, string> } {
  return { headers: authorization === undefined ? {} : { authorization } };
}

function contextFor(
  controller: typeof GuardedController | typeof OpenController,
  handler: Handler,
  args: unknown[],
  type: string = 'http',
): ExecutionContext {
  const method = (controller.prototype as unknown as Record<string, () => void>)[handler];
  const context = new ExecutionContextHost(args, controller, method);
  context.setType(type);
  return context;
}

const http = (handler: Handler, req = request(`Bearer ${GOOD}`), controller = GuardedController) =>
  contextFor(controller, handler, [req, { id: 'response' }, () => undefined]);

async function refusal(promise: Promise<unknown>): Promise<HttpException> {
  try {
    await promise;
  } catch (error) {
    return error as HttpException;
  }
  throw new Error('expected the guard to refuse');
}

describe('TwoFactorGuard', () => {
  let fake: FakeHyperIdServer;
  const modules: TestingModule[] = [];

  async function guardWith(options: HyperIdModuleOptions = {}) {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, retries: 0, cache: false, ...options })],
    })
      .setLogger(quiet)
      .compile();
    modules.push(moduleRef);
    const adapter = new RecordingAdapter();
    moduleRef.get(HttpAdapterHost).httpAdapter = adapter as never;
    return { guard: moduleRef.get(TwoFactorGuard), adapter };
  }

  let guard: TwoFactorGuard;
  let adapter: RecordingAdapter;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: {
        [GOOD]: { auth_types: [HyperIdAuthenticator, AlternativeEmail] },
        [NONE]: { auth_types: [] },
        [FUTURE]: { auth_types: [42] },
      },
    }).start();
    ({ guard, adapter } = await guardWith());
  });

  beforeEach(() => {
    fake.clearFaults().resetCalls();
    adapter.headers.length = 0;
  });

  afterAll(async () => {
    for (const moduleRef of modules) await moduleRef.close();
    await fake.stop();
  });

  describe('metadata', () => {
    it('lets a route without a requirement through without calling HyperID, even without a token', async () => {
      await expect(activate(guard, http('open', request(), OpenController as never))).resolves.toBe(true);
      expect(fake.calls()).toBe(0);
    });

    it('@SkipTwoFactor() on the method overrides the class’s requirement', async () => {
      await expect(activate(guard, http('skipped', request()))).resolves.toBe(true);
      expect(fake.calls()).toBe(0);
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
      expect(fake.calls(FUTURE)).toBe(1);
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
      expect(fake.calls()).toBe(1);
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
      const pending = activate(guard, http('methodRule', req));
      await pending;
      expect(req[PENDING_TWO_FACTOR_LOOKUP]).toBeUndefined();
      await refusal(activate(guard, http('methodRule', request('Bearer unknown-token'))));
    });

    it('shares one lookup between concurrent checks of one request', async () => {
      const req = request(`Bearer ${GOOD}`);
      fake.injectFault({ latencyMs: 50 });
      await Promise.all([activate(guard, http('methodRule', req)), activate(guard, http('methodRule', req))]);
      expect(fake.calls()).toBe(1);
    });

    it('looks up again when the same request object carries another token (no stale answer)', async () => {
      const req = request(`Bearer ${GOOD}`);
      await activate(guard, http('methodRule', req));
      req.headers.authorization = `Bearer ${NONE}`;
      const error = await refusal(activate(guard, http('methodRule', req)));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(fake.calls(GOOD)).toBe(1);
      expect(fake.calls(NONE)).toBe(1);
    });

    it('refuses a long-lived request once its token has expired, though it was verified before', async () => {
      const payload = Buffer.from(JSON.stringify({ exp: Math.floor(Date.now() / 1000) + 1 })).toString(
        'base64url',
      );
      const jwt = `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`;
      fake.setToken(jwt, { auth_types: [AlternativeEmail] });
      const req = request(`Bearer ${jwt}`);
      await expect(activate(guard, http('methodRule', req))).resolves.toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const error = await refusal(activate(guard, http('methodRule', req)));
      expect(error).toBeInstanceOf(UnauthorizedException);
      expect(fake.calls(jwt)).toBe(1);
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
      expect(adapter.headers).toEqual([
        { response: { id: 'response' }, name: 'WWW-Authenticate', value: 'Bearer realm="hyperid"' },
      ]);
      expect(fake.calls()).toBe(0);
    });

    it.each(['Bearer', 'Bearer ', 'Bearer a"b', `Bearer ${'a'.repeat(8193)}`])(
      '%p: 400 invalid_request, HyperID not called',
      async (authorization) => {
        const error = await refusal(activate(guard, http('methodRule', request(authorization))));
        expect(error).toBeInstanceOf(BadRequestException);
        expect(adapter.headers.map((header) => [header.name, header.value])).toEqual([
          ['WWW-Authenticate', 'Bearer realm="hyperid", error="invalid_request"'],
        ]);
        expect(fake.calls()).toBe(0);
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
      fake.injectFault({ result });
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(exceptionClass);
      expect(adapter.headers).toHaveLength(1);
      expect(adapter.headers[0].name).toBe('WWW-Authenticate');
      expect(adapter.headers[0].value).toMatch(challenge);
      expect(JSON.stringify(error.getResponse())).not.toContain(GOOD);
    });

    it('service temporarily unavailable becomes 503 with Retry-After', async () => {
      fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable });
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(ServiceUnavailableException);
      expect(adapter.headers).toEqual([{ response: { id: 'response' }, name: 'Retry-After', value: '1' }]);
    });

    it.each([
      ['invalid parameters', { result: HyperIdResult.InvalidParameters }],
      ['a malformed answer', { malformed: true }],
    ])('%s becomes 502', async (_name, fault) => {
      fake.injectFault(fault);
      const error = await refusal(activate(guard, http('methodRule')));
      expect(error).toBeInstanceOf(BadGatewayException);
    });
  });

  describe('contexts', () => {
    it('reads the request of a GraphQL context', async () => {
      const req = request(`Bearer ${GOOD}`);
      const context = contextFor(GuardedController, 'methodRule', [{}, {}, { req }, {}], 'graphql');
      await expect(activate(guard, context)).resolves.toBe(true);
      expect(fake.calls(GOOD)).toBe(1);
      expect(req[VERIFIED_TWO_FACTOR_TYPES]).toMatchObject({
        authTypes: [HyperIdAuthenticator, AlternativeEmail],
      });
    });

    it.each([
      ['rpc', [{ pattern: 'x' }, {}]],
      ['ws', [{}, { data: 1 }, 'event']],
      ['graphql', [{}, {}, {}, {}]],
      ['kafka', [{}]],
    ])('refuses a %s context without tokenExtractor, without calling HyperID', async (type, args) => {
      const error = await refusal(activate(guard, contextFor(GuardedController, 'methodRule', args, type)));
      expect(error).toBeInstanceOf(ForbiddenException);
      expect(fake.calls()).toBe(0);
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
        ({ guard: extracting } = await guardWith({
          tokenExtractor: (context) => {
            seen.push(context);
            return answer;
          },
        }));
      });

      beforeEach(() => {
        seen.length = 0;
      });

      it.each(['rpc', 'ws'])('uses the token it returns in a %s context', async (type) => {
        answer = GOOD;
        const context = contextFor(GuardedController, 'methodRule', [{ pattern: 'x' }, {}], type);
        await expect(activate(extracting, context)).resolves.toBe(true);
        expect(seen).toEqual([context]);
        expect(fake.calls(GOOD)).toBe(1);
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
        expect(fake.calls()).toBe(0);
      });

      it('reads HTTP requests through the extractor too, not the Authorization header', async () => {
        answer = NONE;
        const req = request(`Bearer ${GOOD}`);
        const error = await refusal(activate(extracting, http('methodRule', req)));
        expect(error).toBeInstanceOf(TwoFactorRequiredException);
        expect(seen).toHaveLength(1);
        expect(fake.calls(NONE)).toBe(1);
        expect(fake.calls(GOOD)).toBe(0);
      });
    });
  });

  describe('stepUp', () => {
    it('answers a missing requirement with 401 and an RFC 9470 challenge', async () => {
      const { guard: stepUp, adapter: stepUpAdapter } = await guardWith({
        stepUp: { acrValues: 'urn:hyperid:2fa', maxAgeSeconds: 300 },
      });
      const error = await refusal(activate(stepUp, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorStepUpRequiredException);
      expect(error.getStatus()).toBe(401);
      expect(error.getResponse()).toMatchObject({ mode: 'all', required: [Totp], missing: [Totp] });
      expect(stepUpAdapter.headers.map((header) => [header.name, header.value])).toEqual([
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
      class LenientGuard extends TwoFactorGuard {
        protected override throwTwoFactorRequired(): never {
          return undefined as never;
        }
      }
      const { guard: base } = await guardWith();
      const lenient = new LenientGuard(
        Reflect.get(base, 'reflector') as Reflector,
        Reflect.get(base, 'twoFactorService') as TwoFactorService,
        Reflect.get(base, 'adapterHost') as HttpAdapterHost,
        Reflect.get(base, 'options') as ResolvedHyperIdOptions,
      );
      const error = await refusal(activate(lenient, http('classRule')));
      expect(error).toBeInstanceOf(TwoFactorRequiredException);
      expect(error.getStatus()).toBe(403);
    });
  });
});
