import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import fc from 'fast-check';
import { TwoFactorTypesResponseDto } from './dto/two-factor-types-response.dto.js';
import { errorForResult, HyperIdClient, parseTwoFactorAnswer } from './hyperid.client.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';
import { HyperIdResult } from './hyperid-result.enum.js';
import { HyperIdModule } from './hyperid.module.js';
import type { HyperIdModuleOptions } from './interfaces/hyperid-module-options.interface.js';
import { FakeHyperIdServer, type FakeHyperIdFault } from './testing/index.js';

const ERROR_CLASSES = [
  HyperIdTokenInvalidError,
  HyperIdTokenExpiredError,
  HyperIdAccessDeniedError,
  HyperIdServiceUnavailableError,
  HyperIdInvalidRequestError,
  HyperIdUpstreamError,
];

/** The error `fn` throws (synchronously or by rejecting); fails the test when it does not throw. */
async function caught(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('errorForResult', () => {
  it.each([
    [HyperIdResult.ServiceTemporarilyUnavailable, HyperIdServiceUnavailableError],
    [HyperIdResult.InvalidParameters, HyperIdInvalidRequestError],
    [HyperIdResult.AccessDenied, HyperIdAccessDeniedError],
    [HyperIdResult.TokenExpired, HyperIdTokenExpiredError],
    [HyperIdResult.TokenInvalid, HyperIdTokenInvalidError],
  ])('maps result %i to %p, keeping the code', (result, errorClass) => {
    const error = errorForResult(result);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toBeInstanceOf(HyperIdError);
    expect(error.result).toBe(result);
    expect(error.name).toBe(errorClass.name);
  });

  it('gives result -1 the default Retry-After', () => {
    expect((errorForResult(-1) as HyperIdServiceUnavailableError).retryAfterSeconds).toBe(1);
  });

  it.each([1, -6, 42, -100])('maps the unknown result %i to HyperIdUpstreamError with the code', (result) => {
    const error = errorForResult(result);
    expect(error).toBeInstanceOf(HyperIdUpstreamError);
    expect(error.result).toBe(result);
    expect(error.message).toContain(String(result));
  });
});

describe('parseTwoFactorAnswer', () => {
  it('reads a success into a validated DTO', () => {
    const dto = parseTwoFactorAnswer(200, '{"result": 0, "auth_types": [0, 3]}');
    expect(dto).toBeInstanceOf(TwoFactorTypesResponseDto);
    expect(dto).toEqual({ result: HyperIdResult.Success, auth_types: [0, 3] });
  });

  it.each([
    ['no methods', '{"result":0,"auth_types":[]}', []],
    ['unknown methods kept as numbers', '{"result":0,"auth_types":[0,7,1000]}', [0, 7, 1000]],
    [
      '256 entries',
      JSON.stringify({ result: 0, auth_types: Array.from({ length: 256 }, () => 1) }),
      Array.from({ length: 256 }, () => 1),
    ],
  ])('accepts %s', (_name, body, authTypes) => {
    expect(parseTwoFactorAnswer(200, body).auth_types).toEqual(authTypes);
  });

  it('keeps only result and auth_types of the answer', () => {
    const dto = parseTwoFactorAnswer(200, '{"result":0,"auth_types":[1],"extra":"x","constructor":{"a":1}}');
    expect(Object.keys(dto).sort()).toEqual(['auth_types', 'result']);
    expect((dto as unknown as Record<string, unknown>).extra).toBeUndefined();
  });

  it('is not fooled by a __proto__ key', () => {
    const dto = parseTwoFactorAnswer(200, '{"result":0,"auth_types":[1],"__proto__":{"polluted":true}}');
    expect(dto.auth_types).toEqual([1]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((dto as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    [-1, HyperIdServiceUnavailableError],
    [-2, HyperIdInvalidRequestError],
    [-3, HyperIdAccessDeniedError],
    [-4, HyperIdTokenExpiredError],
    [-5, HyperIdTokenInvalidError],
  ])('throws for result %i the matching error', async (result, errorClass) => {
    const error = await caught(() => parseTwoFactorAnswer(200, JSON.stringify({ result })));
    expect(error).toBeInstanceOf(errorClass);
    expect((error as HyperIdError).result).toBe(result);
  });

  it('reads a result code sent with a 4xx status', async () => {
    expect(await caught(() => parseTwoFactorAnswer(401, '{"result":-5}'))).toBeInstanceOf(
      HyperIdTokenInvalidError,
    );
    expect(await caught(() => parseTwoFactorAnswer(403, '{"result":-3}'))).toBeInstanceOf(
      HyperIdAccessDeniedError,
    );
  });

  it.each([500, 502, 503, 504, 599, 429])(
    'treats HTTP %i as transient, without a result code',
    async (status) => {
      const error = await caught(() => parseTwoFactorAnswer(status, '{"result":0,"auth_types":[0]}'));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
    },
  );

  it.each([301, 302, 303, 307, 308])('refuses a redirect (HTTP %i)', async (status) => {
    const error = await caught(() => parseTwoFactorAnswer(status, '{"result":0,"auth_types":[0]}'));
    expect(error).toBeInstanceOf(HyperIdUpstreamError);
    expect(error.message).toMatch(/redirect/);
  });

  it.each([
    ['HTTP 201 with result 0', 201, '{"result":0,"auth_types":[0]}'],
    ['HTTP 204', 204, ''],
    ['HTTP 404 HTML', 404, '<html>not found</html>'],
    ['HTTP 400 HTML', 400, '<html>bad</html>'],
    ['an empty body', 200, ''],
    ['a truncated body', 200, '{"result": 0, "auth_types": [0,'],
    ['HTML', 200, '<html><body>Login</body></html>'],
    ['a JSON array', 200, '[0, 3]'],
    ['JSON null', 200, 'null'],
    ['a JSON number', 200, '0'],
    ['a JSON string', 200, '"ok"'],
    ['no result', 200, '{"auth_types":[0]}'],
    ['a string result', 200, '{"result":"0","auth_types":[0]}'],
    ['a fractional result', 200, '{"result":0.5,"auth_types":[0]}'],
    ['a null result', 200, '{"result":null,"auth_types":[0]}'],
    ['no auth_types', 200, '{"result":0}'],
    ['null auth_types', 200, '{"result":0,"auth_types":null}'],
    ['auth_types as an object', 200, '{"result":0,"auth_types":{"0":0}}'],
    ['auth_types as a string', 200, '{"result":0,"auth_types":"0,3"}'],
    ['string auth_types', 200, '{"result":0,"auth_types":["0"]}'],
    ['fractional auth_types', 200, '{"result":0,"auth_types":[1.5]}'],
    ['nested auth_types', 200, '{"result":0,"auth_types":[[0]]}'],
    ['null in auth_types', 200, '{"result":0,"auth_types":[0,null]}'],
    ['257 auth_types', 200, JSON.stringify({ result: 0, auth_types: Array.from({ length: 257 }, () => 0) })],
    ['an unknown result code', 200, '{"result":7,"auth_types":[0]}'],
  ])('refuses %s with HyperIdUpstreamError', async (_name, status, body) => {
    const error = await caught(() => parseTwoFactorAnswer(status, body));
    expect(error).toBeInstanceOf(HyperIdUpstreamError);
  });

  it('only ever returns a success DTO or throws a HyperIdError subclass (property)', () => {
    const status = fc.oneof(fc.constant(200), fc.integer({ min: 100, max: 599 }));
    const answerLike = fc
      .record(
        {
          result: fc.oneof(fc.integer({ min: -7, max: 2 }), fc.double(), fc.jsonValue()),
          auth_types: fc.oneof(
            fc.array(fc.integer({ min: -5, max: 10 }), { maxLength: 300 }),
            fc.array(fc.jsonValue(), { maxLength: 5 }),
            fc.jsonValue(),
          ),
          extra: fc.jsonValue(),
        },
        { requiredKeys: [] },
      )
      .map((value) => JSON.stringify(value));
    const body = fc.oneof(
      answerLike,
      fc.json(),
      fc.string(),
      fc.jsonValue().map((value) => JSON.stringify(value)),
    );

    fc.assert(
      fc.property(status, body, (code, text) => {
        let dto: TwoFactorTypesResponseDto;
        try {
          dto = parseTwoFactorAnswer(code, text);
        } catch (error) {
          expect(ERROR_CLASSES.some((errorClass) => error instanceof errorClass)).toBe(true);
          return;
        }
        expect(code).toBe(200);
        expect(dto).toBeInstanceOf(TwoFactorTypesResponseDto);
        expect(dto.result).toBe(HyperIdResult.Success);
        expect(Array.isArray(dto.auth_types)).toBe(true);
        expect(dto.auth_types.length).toBeLessThanOrEqual(256);
        for (const type of dto.auth_types) expect(Number.isInteger(type)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('HyperIdClient against a fake HyperID', () => {
  const TOKEN = 'eyJhbGciOiJub25lIn0.c2VjcmV0LXBheWxvYWQ.SECRETSIG';
  let fake: FakeHyperIdServer;
  let elsewhere: FakeHyperIdServer;
  const logged: string[] = [];
  const captureLogger: LoggerService = {
    log: (message: unknown) => void logged.push(String(message)),
    warn: (message: unknown) => void logged.push(String(message)),
    error: (message: unknown) => void logged.push(String(message)),
  };
  const opened: Array<() => Promise<void>> = [];

  async function clientWith(options: HyperIdModuleOptions = {}): Promise<HyperIdClient> {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, cache: false, circuitBreaker: false, ...options })],
    })
      .setLogger(captureLogger)
      .compile();
    await moduleRef.init();
    opened.push(() => moduleRef.close());
    return moduleRef.get(HyperIdClient);
  }

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [0, 3] } } }).start();
    elsewhere = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [0, 1, 2, 3] } } }).start();
  });

  beforeEach(() => {
    fake.clearFaults().resetCalls();
    elsewhere.clearFaults().resetCalls();
    logged.length = 0;
  });

  afterEach(async () => {
    while (opened.length > 0) await opened.pop()!();
  });

  afterAll(async () => {
    await fake.stop();
    await elsewhere.stop();
  });

  it('POSTs {} as JSON with the bearer token and reads the answer', async () => {
    const client = await clientWith();
    const answer = await client.fetchTwoFactorTypes(TOKEN);
    expect(answer).toBeInstanceOf(TwoFactorTypesResponseDto);
    expect(answer).toEqual({ result: 0, auth_types: [0, 3] });

    expect(fake.requests).toHaveLength(1);
    const [request] = fake.requests;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/2fa/types/get');
    expect(request.token).toBe(TOKEN);
    expect(request.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(request.headers['content-type']).toMatch(/^application\/json\b/);
    expect(request.headers.accept).toMatch(/application\/json/);
    expect(JSON.parse(request.body)).toEqual({});
    expect(request.body).toBe('{}');
  });

  it('keeps the connection alive', async () => {
    const client = await clientWith();
    await client.fetchTwoFactorTypes(TOKEN);
    expect(fake.requests[0].headers.connection).toBe('keep-alive');
  });

  it('puts the endpoint under the base path of apiUrl', async () => {
    const client = await clientWith({ apiUrl: `${fake.url}/hyperid/` });
    // The fake only answers /2fa/types/get: the 404 it sends here is not a HyperID answer.
    await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdUpstreamError);
    expect(fake.requests.map((request) => request.path)).toEqual(['/hyperid/2fa/types/get']);
  });

  describe('retries only transient failures', () => {
    it('tries result -1 retries + 1 times', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ result: -1 }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBe(HyperIdResult.ServiceTemporarilyUnavailable);
      expect(fake.calls(TOKEN)).toBe(3);
      // Logged once for the operator (with the module's Logger), after the last attempt.
      expect(logged.filter((line) => /HyperID lookup failed/.test(line))).toHaveLength(1);
    });

    it('tries result -1 once with retries: 0', async () => {
      const client = await clientWith({ retries: 0 });
      fake.injectFault({ result: -1 }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it.each([
      [-2, HyperIdInvalidRequestError],
      [-3, HyperIdAccessDeniedError],
      [-4, HyperIdTokenExpiredError],
      [-5, HyperIdTokenInvalidError],
      [17, HyperIdUpstreamError],
    ])('tries result %i once', async (result, errorClass) => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ result }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(errorClass);
      expect((error as HyperIdError).result).toBe(result);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it('tries a malformed answer once, without a result code', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ malformed: true }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdUpstreamError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it.each([500, 502, 503])('tries HTTP %i retries + 1 times', async (status) => {
      const client = await clientWith({ retries: 1 });
      fake.injectFault({ status }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect(fake.calls(TOKEN)).toBe(2);
    });

    it('retries a dropped connection', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ reset: true }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect(fake.calls(TOKEN)).toBe(3);
    });

    it('refuses a connection that cannot be made, as unavailable', async () => {
      const closed = await new FakeHyperIdServer().start();
      const url = closed.url;
      await closed.stop();
      const client = await clientWith({ apiUrl: url, retries: 1 });
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
    });

    it('answers from a retry once HyperID recovers', async () => {
      const client = await clientWith({ retries: 2, timeoutMs: 400 });
      fake.injectFault({ hang: true }, TOKEN);
      const lookup = client.fetchTwoFactorTypes(TOKEN);
      while (fake.calls(TOKEN) === 0) await sleep(5);
      fake.clearFaults();
      await expect(lookup).resolves.toEqual({ result: 0, auth_types: [0, 3] });
      expect(fake.calls(TOKEN)).toBe(2);
    });
  });

  describe('timeout per attempt', () => {
    it('gives up on an attempt that hangs and tries again', async () => {
      const client = await clientWith({ timeoutMs: 200, retries: 1 });
      fake.injectFault({ hang: true }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect(fake.calls(TOKEN)).toBe(2);
    });

    it('waits for an answer that is slow but within the timeout', async () => {
      const client = await clientWith({ timeoutMs: 3000, retries: 0 });
      fake.injectFault({ latencyMs: 100 }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [0, 3] });
    });
  });

  describe('redirects', () => {
    it('does not follow a redirect, so the target never sees the token', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ redirectTo: `${elsewhere.url}/2fa/types/get` }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdUpstreamError);
      expect(error.message).toMatch(/redirect/);
      expect(fake.calls(TOKEN)).toBe(1);
      expect(elsewhere.calls()).toBe(0);
    });
  });

  describe('answer size', () => {
    it('refuses an answer over 64 KiB with HyperIdUpstreamError, once', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ body: `{"result":0,"auth_types":[1]}${' '.repeat(70 * 1024)}` }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdUpstreamError);
      expect(error.message).toMatch(/65536 bytes/);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it('refuses the fake’s oversized answer', async () => {
      const client = await clientWith();
      fake.injectFault({ oversizedBytes: 100_000 }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdUpstreamError);
    });

    it('accepts a valid answer just under the limit', async () => {
      const client = await clientWith();
      fake.injectFault({ body: `{"result":0,"auth_types":[1]}${' '.repeat(60 * 1024)}` }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [1] });
    });
  });

  describe('the token never shows in errors or logs', () => {
    const faults: Array<[string, FakeHyperIdFault]> = [
      ['result -1', { result: -1 }],
      ['result -2', { result: -2 }],
      ['result -3', { result: -3 }],
      ['result -4', { result: -4 }],
      ['result -5', { result: -5 }],
      ['unknown result', { result: 9 }],
      ['malformed', { malformed: true }],
      ['HTTP 500', { status: 500 }],
      ['reset', { reset: true }],
      ['hang', { hang: true }],
      ['redirect', { redirectTo: `http://127.0.0.1:1/?token=leak` }],
      ['oversized', { oversizedBytes: 100_000 }],
      ['body echoing the token', { body: `{"result":"${TOKEN}"}` }],
    ];

    it.each(faults)('%s', async (_name, fault) => {
      const client = await clientWith({ retries: 1, timeoutMs: 200 });
      fake.injectFault(fault, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdError);
      const exposed = [
        error.message,
        String(error.stack),
        JSON.stringify(error),
        JSON.stringify(Object.getOwnPropertyNames(error).map((key) => String((error as never)[key]))),
        ...logged,
      ];
      for (const text of exposed) {
        expect(text).not.toContain(TOKEN);
        expect(text).not.toContain('SECRETSIG');
      }
    });
  });
});
