import 'reflect-metadata';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { HttpService } from '@nestjs/axios';
import type { LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import axios, { AxiosError, type AxiosResponse } from 'axios';
import fc from 'fast-check';
import { TwoFactorTypesResponseDto } from '../dto/two-factor-types-response.dto.js';
import { HttpHyperIdClient } from './http-hyperid.client.js';
import { HyperIdClient } from './hyperid.client.js';
import { errorForResult, parseTwoFactorAnswer, retryAfterSeconds } from './two-factor-answer.parser.js';
import { DEFAULTS, MAX_RESPONSE_BYTES } from '../hyperid.constants.js';
import {
  HyperIdAccessDeniedError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from '../errors/hyperid.errors.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { toHttpException } from '../errors/http-exceptions.js';
import { HyperIdModule } from '../hyperid.module.js';
import { resolveHyperIdOptions } from '../hyperid.options.js';
import type { HyperIdModuleOptions } from '../interfaces/hyperid-module-options.interface.js';
import { FakeHyperIdServer, type FakeHyperIdFault } from '../testing/index.js';

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

/** A JSON body carrying `result`, built from the enum (the enum is the only place the codes live). */
const resultBody = (result: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ result, ...extra });

/** Every failure code, with the error it stands for. */
const FAILURE_CODES = [
  { name: 'TokenInvalid', result: HyperIdResult.TokenInvalid, errorClass: HyperIdTokenInvalidError },
  { name: 'TokenExpired', result: HyperIdResult.TokenExpired, errorClass: HyperIdTokenExpiredError },
  { name: 'AccessDenied', result: HyperIdResult.AccessDenied, errorClass: HyperIdAccessDeniedError },
  {
    name: 'ServiceTemporarilyUnavailable',
    result: HyperIdResult.ServiceTemporarilyUnavailable,
    errorClass: HyperIdServiceUnavailableError,
  },
  {
    name: 'InvalidParameters',
    result: HyperIdResult.InvalidParameters,
    errorClass: HyperIdInvalidRequestError,
  },
];

/** The HTTP status the guard answers for `error`. */
const httpStatusOf = (error: unknown) => toHttpException(error).getStatus();

describe('errorForResult', () => {
  it.each(FAILURE_CODES)('maps $name to $errorClass.name, keeping the code', ({ result, errorClass }) => {
    const error = errorForResult(result);
    expect(error).toBeInstanceOf(errorClass);
    expect(error).toBeInstanceOf(HyperIdError);
    expect(error.result).toBe(result);
    expect(error.name).toBe(errorClass.name);
  });

  it('maps each code to its own class: no code is read as another', () => {
    for (const { result, errorClass } of FAILURE_CODES) {
      for (const other of FAILURE_CODES) {
        if (other.errorClass !== errorClass)
          expect(errorForResult(result)).not.toBeInstanceOf(other.errorClass);
      }
    }
  });

  it('gives ServiceTemporarilyUnavailable the default Retry-After, and no subclass', () => {
    const error = errorForResult(
      HyperIdResult.ServiceTemporarilyUnavailable,
    ) as HyperIdServiceUnavailableError;
    expect(error.retryAfterSeconds).toBe(DEFAULTS.retryAfterSeconds);
    expect(error).not.toBeInstanceOf(HyperIdRateLimitedError);
  });

  it('says in each message what HyperID answered', () => {
    expect(errorForResult(HyperIdResult.ServiceTemporarilyUnavailable).message).toBe(
      'HyperID is temporarily unavailable',
    );
    expect(errorForResult(HyperIdResult.TokenExpired).message).toBe(
      'HyperID says the access token has expired',
    );
    expect(errorForResult(HyperIdResult.TokenInvalid).message).toBe(
      'HyperID rejected the access token as invalid',
    );
    expect(errorForResult(42).message).toBe('HyperID answered an unknown result code 42');
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

  it.each(FAILURE_CODES)('throws for $name the matching error', async ({ result, errorClass }) => {
    const error = await caught(() => parseTwoFactorAnswer(200, resultBody(result)));
    expect(error).toBeInstanceOf(errorClass);
    expect((error as HyperIdError).result).toBe(result);
  });

  it('reads a result code sent with a 4xx status', async () => {
    expect(
      await caught(() => parseTwoFactorAnswer(401, resultBody(HyperIdResult.TokenInvalid))),
    ).toBeInstanceOf(HyperIdTokenInvalidError);
    expect(
      await caught(() => parseTwoFactorAnswer(403, resultBody(HyperIdResult.AccessDenied))),
    ).toBeInstanceOf(HyperIdAccessDeniedError);
  });

  it('reads 400 as an answer (its result code counts) but 399 as a redirect (its body does not)', async () => {
    const body = resultBody(HyperIdResult.TokenInvalid);
    const at400 = await caught(() => parseTwoFactorAnswer(400, body));
    expect(at400).toBeInstanceOf(HyperIdTokenInvalidError);
    expect((at400 as HyperIdError).result).toBe(HyperIdResult.TokenInvalid);
    const at399 = await caught(() => parseTwoFactorAnswer(399, body));
    expect(at399).toBeInstanceOf(HyperIdUpstreamError);
    expect((at399 as HyperIdError).result).toBeUndefined();
    expect(at399.message).toMatch(/redirect/);
  });

  it.each([500, 502, 503, 504, 599])('treats HTTP %i as transient, without a result code', async (status) => {
    const error = await caught(() => parseTwoFactorAnswer(status, '{"result":0,"auth_types":[0]}'));
    expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
    expect(error).not.toBeInstanceOf(HyperIdRateLimitedError);
    expect((error as HyperIdError).result).toBeUndefined();
    expect((error as HyperIdServiceUnavailableError).retryAfterSeconds).toBe(DEFAULTS.retryAfterSeconds);
  });

  it('ignores a result code in the body of a 5xx', async () => {
    const error = await caught(() => parseTwoFactorAnswer(503, resultBody(HyperIdResult.TokenInvalid)));
    expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
    expect((error as HyperIdError).result).toBeUndefined();
  });

  it.each([300, 301, 302, 303, 307, 308])('refuses a redirect (HTTP %i)', async (status) => {
    const error = await caught(() => parseTwoFactorAnswer(status, '{"result":0,"auth_types":[0]}'));
    expect(error).toBeInstanceOf(HyperIdUpstreamError);
    expect(error.message).toMatch(/redirect/);
  });

  describe('HTTP 429', () => {
    it('is HyperIdRateLimitedError, without a result code, whatever the body', async () => {
      for (const body of ['', '<html>slow down</html>', '{"result":0,"auth_types":[0]}']) {
        const error = await caught(() => parseTwoFactorAnswer(429, body, '30'));
        expect(error).toBeInstanceOf(HyperIdRateLimitedError);
        expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
        expect((error as HyperIdError).result).toBeUndefined();
        expect((error as HyperIdRateLimitedError).retryAfterSeconds).toBe(30);
      }
    });

    it('takes Retry-After in its HTTP-date form', async () => {
      const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
      const error = (await caught(() =>
        parseTwoFactorAnswer(429, '', inTwoMinutes),
      )) as HyperIdRateLimitedError;
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(118);
      expect(error.retryAfterSeconds).toBeLessThanOrEqual(120);
    });

    it.each([
      ['absent', undefined, DEFAULTS.retryAfterSeconds],
      ['empty', '', DEFAULTS.retryAfterSeconds],
      ['garbage', 'soon', DEFAULTS.retryAfterSeconds],
      ['with a unit', '30s', DEFAULTS.retryAfterSeconds],
      ['huge', '99999999', 3600],
      ['too long for a number', '9'.repeat(400), 3600],
      ['garbage that Date.parse would read as a year', 'later 2099', DEFAULTS.retryAfterSeconds],
      ['zero', '0', 1],
    ])('with a Retry-After %s', async (_name, header, expected) => {
      const error = (await caught(() => parseTwoFactorAnswer(429, '', header))) as HyperIdRateLimitedError;
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect(error.retryAfterSeconds).toBe(expected);
    });

    it('only reads Retry-After with a 429', async () => {
      const error = (await caught(() =>
        parseTwoFactorAnswer(503, '', '30'),
      )) as HyperIdServiceUnavailableError;
      expect(error).not.toBeInstanceOf(HyperIdRateLimitedError);
      expect(error.retryAfterSeconds).toBe(DEFAULTS.retryAfterSeconds);
    });
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
    ['HTTP 399 with a result code', 399, resultBody(HyperIdResult.TokenInvalid)],
  ])('refuses %s with HyperIdUpstreamError', async (_name, status, body) => {
    const error = await caught(() => parseTwoFactorAnswer(status, body));
    expect(error).toBeInstanceOf(HyperIdUpstreamError);
  });

  it.each([
    ['a 5xx', 503, '', 'HyperID answered HTTP 503'],
    ['a 429', 429, '', 'HyperID answered HTTP 429 (too many requests)'],
    ['a redirect', 302, '', 'HyperID answered a redirect (HTTP 302); redirects are never followed'],
    ['a body that is not JSON', 404, '<html>', 'HyperID answered HTTP 404 with a body that is not JSON'],
    ['JSON that is not an object', 200, '[0]', 'HyperID answered JSON that is not an object'],
    ['no integer result', 200, '{"result":"0"}', 'HyperID answered without an integer "result"'],
    ['a success with another status', 201, '{"result":0}', 'HyperID answered HTTP 201 with result 0'],
    [
      'a success that fails validation',
      200,
      '{"result":0,"auth_types":"0"}',
      "HyperID's answer failed validation (auth_types)",
    ],
  ])('says what was wrong with %s, for the operator’s log', async (_name, status, body, message) => {
    expect((await caught(() => parseTwoFactorAnswer(status, body))).message).toBe(message);
  });

  it('only ever returns a success DTO or throws a HyperIdError subclass (property)', () => {
    const status = fc.oneof(fc.constant(200), fc.integer({ min: 100, max: 599 }));
    const answerLike = fc
      .record(
        {
          result: fc.oneof(fc.integer({ min: -7, max: 2 }), fc.double(), fc.jsonValue()),
          auth_types: fc.oneof(
            fc.array(fc.integer({ min: -10, max: 10 }), { maxLength: 300 }),
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

describe('retryAfterSeconds', () => {
  const NOW = Date.parse('2030-01-01T00:00:00Z');

  it.each([
    ['delay-seconds', '30', 30],
    ['delay-seconds with spaces around', '  45 ', 45],
    ['one second', '1', 1],
    ['zero, raised to one second', '0', 1],
    ['the cap itself', '3600', 3600],
    ['over the cap', '3601', 3600],
    ['huge', '99999999999', 3600],
    ['an HTTP date a minute away', 'Tue, 01 Jan 2030 00:01:00 GMT', 60],
    ['an HTTP date with a fraction of a second to go', new Date(NOW + 1500).toUTCString(), 1],
    ['an HTTP date in the past', 'Mon, 31 Dec 2029 23:00:00 GMT', 1],
    ['an HTTP date a day away, capped', 'Wed, 02 Jan 2030 00:00:00 GMT', 3600],
    ['delay-seconds of nine digits with leading zeros', '000000030', 30],
  ])('reads %s', (_name, header, expected) => {
    expect(retryAfterSeconds(header, NOW)).toBe(expected);
  });

  it.each([
    ['absent', undefined],
    ['null', null],
    ['empty', ''],
    ['blank', '   '],
    ['a word', 'soon'],
    ['a unit', '30s'],
    ['a number, not a string', 30],
    ['an array', ['30']],
    ['an HTTP date with no such month', 'Tue, 01 Foo 2030 00:01:00 GMT'],
    ['an HTTP date with no such day', 'Tue, 99 Jan 2030 00:01:00 GMT'],
  ])('has no value when the header is %s', (_name, header) => {
    expect(retryAfterSeconds(header, NOW)).toBeUndefined();
  });

  it('uses the current time by default', () => {
    const seconds = retryAfterSeconds(new Date(Date.now() + 90_000).toUTCString());
    expect(seconds).toBeGreaterThanOrEqual(88);
    expect(seconds).toBeLessThanOrEqual(90);
  });
});

describe('HyperIdClient against a fake HyperID', () => {
  const TOKEN = 'eyJhbGciOiJub25lIn0.c2VjcmV0LXBheWxvYWQ.SECRETSIG';
  let fake: FakeHyperIdServer;
  let elsewhere: FakeHyperIdServer;
  const logged: string[] = [];
  /** The same lines, with their level. */
  const levelled: Array<[string, string]> = [];
  const capture =
    (level: string) =>
    (message: unknown): void => {
      logged.push(String(message));
      levelled.push([level, String(message)]);
    };
  const captureLogger: LoggerService = {
    log: capture('log'),
    warn: capture('warn'),
    error: capture('error'),
  };
  /** The warnings and errors logged: what reaches an operator. */
  const alerts = () => levelled.filter(([level]) => level !== 'log');
  const opened: Array<() => Promise<void>> = [];

  /**
   * A started HyperIdModule: its client, its own HttpService (where a test adds interceptors) and
   * `close`, which shuts the module down once (again after the test, when the test has not).
   */
  async function moduleWith(
    options: HyperIdModuleOptions = {},
  ): Promise<{ client: HyperIdClient; http: HttpService; close: () => Promise<void> }> {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, cache: false, circuitBreaker: false, ...options })],
    })
      .setLogger(captureLogger)
      .compile();
    await moduleRef.init();
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= moduleRef.close());
    opened.push(close);
    // The only HttpModule here is the one HyperIdModule imports for itself.
    return {
      client: moduleRef.get(HyperIdClient),
      http: moduleRef.get(HttpService, { strict: false }),
      close,
    };
  }

  async function clientWith(options: HyperIdModuleOptions = {}): Promise<HyperIdClient> {
    return (await moduleWith(options)).client;
  }

  /**
   * Adds a request interceptor to `http` for the rest of the test. HyperIdModule registers its
   * HttpModule once, so every module of this file shares one axios instance: it is ejected after.
   */
  function onEveryRequest(http: HttpService, interceptor: () => never): void {
    const id = http.axiosRef.interceptors.request.use(interceptor);
    opened.push(async () => http.axiosRef.interceptors.request.eject(id));
  }

  /** Adds a response interceptor to `http` for the rest of the test (see {@link onEveryRequest}). */
  function onEveryResponse(http: HttpService, interceptor: (response: AxiosResponse) => AxiosResponse): void {
    const id = http.axiosRef.interceptors.response.use(interceptor);
    opened.push(async () => http.axiosRef.interceptors.response.eject(id));
  }

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [0, 3] } } }).start();
    elsewhere = await new FakeHyperIdServer({ tokens: { [TOKEN]: { auth_types: [0, 1, 2, 3] } } }).start();
  });

  beforeEach(() => {
    fake.clearFaults().resetCalls();
    elsewhere.clearFaults().resetCalls();
    logged.length = 0;
    levelled.length = 0;
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

  it('sends every attempt through the module’s own HttpService, where its interceptors see it', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, cache: false, circuitBreaker: false, retries: 1 })],
    })
      .setLogger(captureLogger)
      .compile();
    await moduleRef.init();
    opened.push(() => moduleRef.close());
    const seen: string[] = [];
    // The only HttpModule here is the one HyperIdModule imports for itself.
    moduleRef.get(HttpService, { strict: false }).axiosRef.interceptors.request.use((config) => {
      seen.push(`${config.method} ${config.url}`);
      return config;
    });
    fake.scriptFaults([{ status: 503 }], TOKEN);
    await expect(moduleRef.get(HyperIdClient).fetchTwoFactorTypes(TOKEN)).resolves.toEqual({
      result: 0,
      auth_types: [0, 3],
    });
    expect(seen).toEqual([`post ${fake.url}/2fa/types/get`, `post ${fake.url}/2fa/types/get`]);
    expect(fake.calls(TOKEN)).toBe(2);
  });

  it('sends each call with its own token only: none sticks to the next lookup or to the probe', async () => {
    const other = 'another-token';
    fake.setToken(other, { auth_types: [1] });
    const client = await clientWith();
    await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [0, 3] });
    await expect(client.fetchTwoFactorTypes(other)).resolves.toEqual({ result: 0, auth_types: [1] });
    await expect(client.probe()).resolves.toEqual({ result: HyperIdResult.TokenInvalid });
    await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [0, 3] });
    expect(fake.requests.map((request) => request.headers.authorization)).toEqual([
      `Bearer ${TOKEN}`,
      `Bearer ${other}`,
      undefined,
      `Bearer ${TOKEN}`,
    ]);
    for (const request of fake.requests) {
      expect(request.body).toBe('{}');
      expect(request.headers['content-type']).toMatch(/^application\/json\b/);
    }
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

  it.each([
    ['one trailing slash', '/'],
    ['several trailing slashes', '///'],
  ])('calls /2fa/types/get, not //2fa/types/get, for an apiUrl with %s', async (_name, slashes) => {
    const atRoot = await clientWith({ apiUrl: `${fake.url}${slashes}` });
    await expect(atRoot.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [0, 3] });
    const underBase = await clientWith({ apiUrl: `${fake.url}/hyperid${slashes}` });
    await expect(underBase.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdUpstreamError);
    expect(fake.requests.map((request) => request.path)).toEqual([
      '/2fa/types/get',
      '/hyperid/2fa/types/get',
    ]);
  });

  it('trims every trailing slash of the URL it is given, not only the last one', async () => {
    // Built by hand: the module's option resolution already trims the path, a URL object need not be.
    const options = resolveHyperIdOptions({ apiUrl: fake.url, cache: false, circuitBreaker: false });
    const client = new HttpHyperIdClient(new HttpService(axios.create()), {
      ...options,
      apiUrl: new URL(`${fake.url}//`),
    });
    try {
      await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [0, 3] });
      expect(fake.requests.map((request) => request.path)).toEqual(['/2fa/types/get']);
    } finally {
      client.onModuleDestroy();
    }
  });

  describe('its connections', () => {
    /** A bare HTTP server that answers every call with a success and keeps each TCP connection it accepts. */
    let server: Server;
    let serverUrl: string;
    const connections: Socket[] = [];

    beforeAll(async () => {
      server = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res
            .writeHead(200, { 'Content-Type': 'application/json' })
            .end(resultBody(HyperIdResult.Success, { auth_types: [1] }));
        });
      });
      // Longer than any test: a connection that closes was closed by the client.
      server.keepAliveTimeout = 60_000;
      server.on('connection', (socket: Socket) => connections.push(socket));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    beforeEach(() => {
      connections.length = 0;
    });

    afterAll(async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
    });

    it('sends consecutive lookups over one kept-alive connection', async () => {
      const client = await clientWith({ apiUrl: serverUrl });
      for (let i = 0; i < 3; i += 1) {
        await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [1] });
      }
      await expect(client.probe()).resolves.toEqual({ result: HyperIdResult.Success });
      expect(connections).toHaveLength(1);
    });

    it('closes its idle connections when the module is destroyed', async () => {
      const { client, close } = await moduleWith({ apiUrl: serverUrl });
      await client.fetchTwoFactorTypes(TOKEN);
      expect(connections).toHaveLength(1);
      const [connection] = connections;
      expect(connection.destroyed).toBe(false);
      const closed = once(connection, 'close').then(() => 'closed');
      await close();
      await expect(Promise.race([closed, sleep(2000).then(() => 'still open')])).resolves.toBe('closed');
    });
  });

  describe('retries only transient failures', () => {
    it('tries ServiceTemporarilyUnavailable retries + 1 times', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBe(HyperIdResult.ServiceTemporarilyUnavailable);
      expect(fake.calls(TOKEN)).toBe(3);
      // Logged once for the operator (with the module's Logger), after the last attempt.
      expect(logged.filter((line) => /HyperID lookup failed/.test(line))).toHaveLength(1);
    });

    it('tries ServiceTemporarilyUnavailable once with retries: 0', async () => {
      const client = await clientWith({ retries: 0 });
      fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it.each([
      ...FAILURE_CODES.filter(({ result }) => result !== HyperIdResult.ServiceTemporarilyUnavailable),
      { name: 'the unknown code 17', result: 17, errorClass: HyperIdUpstreamError },
    ])('tries $name once, as $errorClass.name', async ({ result, errorClass }) => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ result }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(errorClass);
      expect((error as HyperIdError).result).toBe(result);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it.each([0, 1, 3])(
      'with retries: %i, tries ServiceTemporarilyUnavailable retries + 1 times',
      async (retries) => {
        const client = await clientWith({ retries });
        fake.injectFault({ body: resultBody(HyperIdResult.ServiceTemporarilyUnavailable) }, TOKEN);
        const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
        expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
        expect(fake.calls(TOKEN)).toBe(retries + 1);
      },
    );

    it('answers from a retry once HyperID is available again', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, TOKEN);
      const lookup = client.fetchTwoFactorTypes(TOKEN);
      while (fake.calls(TOKEN) === 0) await sleep(2);
      fake.clearFaults();
      await expect(lookup).resolves.toEqual({ result: 0, auth_types: [0, 3] });
      expect(fake.calls(TOKEN)).toBe(2);
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

  describe('HTTP 429', () => {
    it('is HyperIdRateLimitedError with the Retry-After of HyperID, tried once', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ status: 429, headers: { 'Retry-After': '30' } }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect((error as HyperIdError).result).toBeUndefined();
      expect((error as HyperIdRateLimitedError).retryAfterSeconds).toBe(30);
      expect(fake.calls(TOKEN)).toBe(1);
      expect(httpStatusOf(error)).toBe(503);
    });

    it('reads an HTTP-date Retry-After', async () => {
      const client = await clientWith({ retries: 2 });
      const inTwoMinutes = new Date(Date.now() + 120_000).toUTCString();
      fake.injectFault({ status: 429, headers: { 'Retry-After': inTwoMinutes } }, TOKEN);
      const error = (await caught(() => client.fetchTwoFactorTypes(TOKEN))) as HyperIdRateLimitedError;
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect(error.retryAfterSeconds).toBeGreaterThanOrEqual(117);
      expect(error.retryAfterSeconds).toBeLessThanOrEqual(120);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it.each([
      ['no Retry-After', {}, DEFAULTS.retryAfterSeconds],
      ['a garbage Retry-After', { 'Retry-After': 'later' }, DEFAULTS.retryAfterSeconds],
      ['a huge Retry-After', { 'Retry-After': '86400' }, 3600],
    ])('with %s', async (_name, headers: Record<string, string>, expected) => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ status: 429, headers }, TOKEN);
      const error = (await caught(() => client.fetchTwoFactorTypes(TOKEN))) as HyperIdRateLimitedError;
      expect(error).toBeInstanceOf(HyperIdRateLimitedError);
      expect(error.retryAfterSeconds).toBe(expected);
      expect(fake.calls(TOKEN)).toBe(1);
    });

    it('never opens the circuit breaker', async () => {
      const client = await clientWith({
        retries: 2,
        circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 },
      });
      fake.injectFault({ status: 429, headers: { 'Retry-After': '30' } }, TOKEN);
      for (let i = 0; i < 20; i += 1) {
        await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdRateLimitedError);
      }
      expect(fake.calls(TOKEN)).toBe(20);
      expect(client.circuitState).toBe('closed');
      fake.injectFault({ status: 503 }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(client.circuitState).toBe('open');
    });
  });

  describe('result codes from the fake', () => {
    it.each(FAILURE_CODES)('maps $name to $errorClass.name', async ({ result, errorClass }) => {
      const client = await clientWith({ retries: 0 });
      fake.setToken('coded-token', { result });
      const error = await caught(() => client.fetchTwoFactorTypes('coded-token'));
      expect(error).toBeInstanceOf(errorClass);
      expect((error as HyperIdError).result).toBe(result);
    });

    it('maps a token it does not know to HyperIdTokenInvalidError', async () => {
      const client = await clientWith();
      const error = await caught(() => client.fetchTwoFactorTypes('never-issued'));
      expect(error).toBeInstanceOf(HyperIdTokenInvalidError);
      expect((error as HyperIdError).result).toBe(HyperIdResult.TokenInvalid);
      expect(httpStatusOf(error)).toBe(401);
    });

    it('maps an unknown code to HyperIdUpstreamError', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ body: resultBody(HyperIdResult.InvalidParameters - 1) }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdUpstreamError);
      expect((error as HyperIdError).result).toBe(HyperIdResult.InvalidParameters - 1);
      expect(fake.calls(TOKEN)).toBe(1);
      expect(httpStatusOf(error)).toBe(502);
    });

    it('reads the result code of a 400 answer, and refuses a 399 answer', async () => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ status: 400, body: resultBody(HyperIdResult.TokenInvalid) }, TOKEN);
      const at400 = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(at400).toBeInstanceOf(HyperIdTokenInvalidError);
      expect((at400 as HyperIdError).result).toBe(HyperIdResult.TokenInvalid);

      fake.injectFault({ status: 399, body: resultBody(HyperIdResult.TokenInvalid) }, TOKEN);
      const at399 = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(at399).toBeInstanceOf(HyperIdUpstreamError);
      expect((at399 as HyperIdError).result).toBeUndefined();
      expect(fake.calls(TOKEN)).toBe(2);
    });
  });

  describe('the probe', () => {
    it('sends no Authorization header and resolves the code of the refusal', async () => {
      const client = await clientWith();
      await expect(client.probe()).resolves.toEqual({ result: HyperIdResult.TokenInvalid });
      expect(fake.requests).toHaveLength(1);
      const [request] = fake.requests;
      expect(request.method).toBe('POST');
      expect(request.path).toBe('/2fa/types/get');
      expect(request.headers.authorization).toBeUndefined();
      expect(request.token).toBeUndefined();
      expect(request.body).toBe('{}');
    });

    it('sends the probe as JSON and asks for JSON, as a lookup does', async () => {
      const client = await clientWith();
      await client.probe();
      const [request] = fake.requests;
      expect(request.headers.accept).toBe('application/json');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers.authorization).toBeUndefined();
    });

    it.each([
      ['HTTP 503', { status: 503 }, HyperIdServiceUnavailableError],
      ['HTTP 429', { status: 429, headers: { 'Retry-After': '30' } }, HyperIdRateLimitedError],
      [
        'ServiceTemporarilyUnavailable',
        { result: HyperIdResult.ServiceTemporarilyUnavailable },
        HyperIdServiceUnavailableError,
      ],
      ['a malformed answer', { malformed: true }, HyperIdUpstreamError],
    ])(
      'fails on %s, tried once and not counted by the breaker',
      async (_name, fault: FakeHyperIdFault, errorClass) => {
        const client = await clientWith({
          retries: 2,
          circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 },
        });
        fake.injectFault(fault);
        for (let i = 0; i < 3; i += 1) await expect(client.probe()).rejects.toBeInstanceOf(errorClass);
        expect(fake.calls()).toBe(3);
        expect(client.circuitState).toBe('closed');
      },
    );
  });

  describe('the probe’s other answers', () => {
    it('resolves Success when HyperID accepts even a call without a token', async () => {
      const client = await clientWith();
      fake.injectFault({ body: resultBody(HyperIdResult.Success, { auth_types: [] }) });
      await expect(client.probe()).resolves.toEqual({ result: HyperIdResult.Success });
    });

    it.each([
      ['an AccessDenied answer', HyperIdResult.AccessDenied],
      ['an InvalidParameters answer', HyperIdResult.InvalidParameters],
      ['an answer with an unknown code', 42],
    ])('resolves the code of %s: HyperID answered, so it is up', async (_name, result) => {
      const client = await clientWith();
      fake.injectFault({ result });
      await expect(client.probe()).resolves.toEqual({ result });
    });

    it('rejects as unavailable when HyperID cannot be reached', async () => {
      const closed = await new FakeHyperIdServer().start();
      const url = closed.url;
      await closed.stop();
      const client = await clientWith({ apiUrl: url });
      await expect(client.probe()).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
    });
  });

  describe('what is logged, at which level', () => {
    it.each([
      ['HTTP 503', 'warn', { status: 503 }, 'HyperID answered HTTP 503'],
      [
        'a malformed answer',
        'warn',
        { malformed: true },
        'HyperID answered HTTP 200 with a body that is not JSON',
      ],
      [
        'InvalidParameters',
        'error',
        { result: HyperIdResult.InvalidParameters },
        'HyperID rejected the request parameters',
      ],
    ])('%s: one %s line for the operator', async (_name, level, fault: FakeHyperIdFault, message) => {
      const client = await clientWith({ retries: 0 });
      fake.injectFault(fault, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdError);
      expect(alerts()).toEqual([[level, `HyperID lookup failed: ${message}`]]);
    });

    it.each(
      FAILURE_CODES.filter(
        ({ errorClass }) =>
          errorClass !== HyperIdServiceUnavailableError && errorClass !== HyperIdInvalidRequestError,
      ),
    )(
      'nothing for $name: an answer about the token is the caller’s business',
      async ({ result, errorClass }) => {
        const client = await clientWith({ retries: 0 });
        fake.injectFault({ result }, TOKEN);
        await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(errorClass);
        expect(alerts()).toEqual([]);
      },
    );

    it('names the network error of a connection that cannot be made', async () => {
      const closed = await new FakeHyperIdServer().start();
      const url = closed.url;
      await closed.stop();
      const client = await clientWith({ apiUrl: url, retries: 0 });
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error.message).toBe('HyperID could not be reached (ECONNREFUSED)');
      expect(alerts()).toEqual([
        ['warn', 'HyperID lookup failed: HyperID could not be reached (ECONNREFUSED)'],
      ]);
    });
  });

  describe('redirects', () => {
    it.each([300, 301, 302, 307, 308])('refuses HTTP %i once, without calling its target', async (status) => {
      const client = await clientWith({ retries: 2 });
      fake.injectFault({ status, headers: { Location: `${elsewhere.url}/2fa/types/get` } }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdUpstreamError);
      expect(error.message).toMatch(/redirect/);
      expect(error.message).toContain(String(status));
      expect(fake.calls(TOKEN)).toBe(1);
      expect(elsewhere.calls()).toBe(0);
      expect(httpStatusOf(error)).toBe(502);
    });

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

  describe('failures with no answer to read', () => {
    it('maps an answer cut off mid-body (ERR_BAD_RESPONSE, not about its size) to unavailable, and retries it', async () => {
      const client = await clientWith({ retries: 1 });
      fake.injectFault({ body: '{"result":0,"auth_types":[', contentLength: 1000, cutAfterMs: 20 }, TOKEN);
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error).not.toBeInstanceOf(HyperIdUpstreamError);
      expect(error.message).toBe('HyperID could not be reached (ERR_BAD_RESPONSE)');
      expect(httpStatusOf(error)).toBe(503);
      expect(fake.calls(TOKEN)).toBe(2);
    });

    it('maps a failure that mentions maxContentLength under another code to unavailable', async () => {
      const { client, http } = await moduleWith({ retries: 0 });
      onEveryRequest(http, () => {
        throw new AxiosError(
          `maxContentLength size of ${MAX_RESPONSE_BYTES} exceeded`,
          AxiosError.ERR_NETWORK,
        );
      });
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error).not.toBeInstanceOf(HyperIdUpstreamError);
      expect(error.message).toBe('HyperID could not be reached (ERR_NETWORK)');
      expect(httpStatusOf(error)).toBe(503);
    });

    it('says "network error" for an axios failure without a code', async () => {
      const { client, http } = await moduleWith({ retries: 0 });
      onEveryRequest(http, () => {
        throw new AxiosError('socket hang up');
      });
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error.message).toBe('HyperID could not be reached (network error)');
      expect(alerts()).toEqual([
        ['warn', 'HyperID lookup failed: HyperID could not be reached (network error)'],
      ]);
    });

    it('maps a failure that is not axios’s to unavailable, without its details', async () => {
      const { client, http } = await moduleWith({ retries: 1 });
      onEveryRequest(http, () => {
        throw new TypeError(`cannot read ${TOKEN}`);
      });
      const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(error).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(error.message).toBe('HyperID could not be reached');
      expect(fake.calls()).toBe(0);
      const probed = await caught(() => client.probe());
      expect(probed).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(probed.message).toBe('HyperID could not be reached');
    });

    it('passes a HyperIdError raised on the way as it is', async () => {
      const { client, http } = await moduleWith({ retries: 2 });
      const raised = new HyperIdInvalidRequestError('refused before sending');
      onEveryRequest(http, () => {
        throw raised;
      });
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBe(raised);
      await expect(client.probe()).rejects.toBe(raised);
    });
  });

  describe('the answer’s body', () => {
    it.each([
      ['a Buffer', (text: string): unknown => Buffer.from(text)],
      ['the parsed JSON', (text: string): unknown => JSON.parse(text)],
    ])(
      'is refused when an interceptor turned it into %s: only the text axios read is parsed',
      async (_name, convert) => {
        const { client, http } = await moduleWith({ retries: 0 });
        onEveryResponse(http, (response) => {
          response.data = convert(response.data as string);
          return response;
        });
        const error = await caught(() => client.fetchTwoFactorTypes(TOKEN));
        expect(error).toBeInstanceOf(HyperIdUpstreamError);
        expect(error.message).toBe('HyperID answered HTTP 200 with a body that is not JSON');
        expect(fake.calls(TOKEN)).toBe(1);
      },
    );
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

    it('answers an oversized body as a bad gateway (502) but a 5xx as unavailable (503)', async () => {
      const client = await clientWith({ retries: 1 });
      fake.injectFault(
        { body: resultBody(HyperIdResult.Success, { auth_types: [1], pad: 'x'.repeat(MAX_RESPONSE_BYTES) }) },
        TOKEN,
      );
      const oversized = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(oversized).toBeInstanceOf(HyperIdUpstreamError);
      expect(oversized).not.toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(httpStatusOf(oversized)).toBe(502);
      expect(fake.calls(TOKEN)).toBe(1);

      fake.injectFault({ status: 502 }, TOKEN);
      const unavailable = await caught(() => client.fetchTwoFactorTypes(TOKEN));
      expect(unavailable).toBeInstanceOf(HyperIdServiceUnavailableError);
      expect(httpStatusOf(unavailable)).toBe(503);
      expect(fake.calls(TOKEN)).toBe(3);
    });

    it('accepts a valid answer just under the limit', async () => {
      const client = await clientWith();
      fake.injectFault({ body: `{"result":0,"auth_types":[1]}${' '.repeat(60 * 1024)}` }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).resolves.toEqual({ result: 0, auth_types: [1] });
    });
  });

  describe('its span', () => {
    const exporter = new InMemorySpanExporter();

    beforeAll(async () => {
      // The module loads the API on its own; wait until it has, as an app's first request would.
      await import('@opentelemetry/api');
      trace.setGlobalTracerProvider(
        new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
      );
    });

    afterAll(() => trace.disable());

    beforeEach(() => exporter.reset());

    it.each([
      [0, 1],
      [2, 3],
    ])('with retries: %i, records hyperid.attempts = %i and HyperID’s host', async (retries, attempts) => {
      const client = await clientWith({ retries });
      fake.injectFault({ status: 503 }, TOKEN);
      await expect(client.fetchTwoFactorTypes(TOKEN)).rejects.toBeInstanceOf(HyperIdServiceUnavailableError);
      const spans = exporter.getFinishedSpans();
      expect(spans).toHaveLength(1);
      expect(spans[0].attributes).toMatchObject({
        'server.address': '127.0.0.1',
        'hyperid.attempts': attempts,
        'hyperid.outcome': 'unavailable',
      });
    });
  });

  describe('the token never shows in errors or logs', () => {
    const faults: Array<[string, FakeHyperIdFault]> = [
      ...FAILURE_CODES.map(({ name, result }): [string, FakeHyperIdFault] => [name, { result }]),
      ['unknown result', { result: 9 }],
      ['HTTP 429', { status: 429, headers: { 'Retry-After': '30' } }],
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
