import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { ConsoleLogger, HttpException, Logger, type LoggerService } from '@nestjs/common';
import { DEFAULTS } from '../hyperid.constants.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { credentialsException, toHttpException } from './http-exceptions.js';
import {
  HyperIdAccessDeniedError,
  HyperIdBusyError,
  HyperIdCircuitOpenError,
  HyperIdError,
  HyperIdInvalidRequestError,
  HyperIdRateLimitedError,
  HyperIdServiceUnavailableError,
  HyperIdTokenExpiredError,
  HyperIdTokenInvalidError,
  HyperIdUpstreamError,
} from './hyperid.errors.js';

const TOKEN = 'eyJhbGciOiJub25lIn0.c2VjcmV0.SECRETSIG';

/** What the module logs, by level. */
const logged: Array<{ level: string; text: string }> = [];
const captureLogger: LoggerService = {
  log: (message: unknown) => void logged.push({ level: 'log', text: String(message) }),
  warn: (message: unknown) => void logged.push({ level: 'warn', text: String(message) }),
  error: (message: unknown) => void logged.push({ level: 'error', text: String(message) }),
};

beforeAll(() => Logger.overrideLogger(captureLogger));
afterAll(() => Logger.overrideLogger(new ConsoleLogger()));
beforeEach(() => {
  logged.length = 0;
});

/** The answer to `error`, with the headers it sets, in order. */
function answerTo(error: unknown): { exception: HttpException; headers: Array<[string, string]> } {
  const headers: Array<[string, string]> = [];
  const exception = toHttpException(error, (name, value) => void headers.push([name, value]));
  return { exception, headers };
}

/** The `message` of an exception's body. */
const messageOf = (exception: HttpException) => (exception.getResponse() as { message: string }).message;

describe('credentialsException', () => {
  it('missing: 401 with a bare challenge', () => {
    const headers: Array<[string, string]> = [];
    const exception = credentialsException('missing', (name, value) => void headers.push([name, value]));
    expect(exception.getStatus()).toBe(401);
    expect(messageOf(exception)).toBe('A bearer token is required');
    expect(headers).toEqual([['WWW-Authenticate', 'Bearer realm="hyperid"']]);
  });

  it('malformed: 400 with an invalid_request challenge', () => {
    const headers: Array<[string, string]> = [];
    const exception = credentialsException('malformed', (name, value) => void headers.push([name, value]));
    expect(exception.getStatus()).toBe(400);
    expect(messageOf(exception)).toBe('The Authorization header is not a well-formed bearer token');
    expect(headers).toEqual([['WWW-Authenticate', 'Bearer realm="hyperid", error="invalid_request"']]);
  });
});

describe('toHttpException', () => {
  it.each([
    ['HyperIdTokenInvalidError', new HyperIdTokenInvalidError(), 'The access token is invalid'],
    [
      'HyperIdTokenInvalidError with a result code',
      new HyperIdTokenInvalidError('HyperID said so', HyperIdResult.TokenInvalid),
      'The access token is invalid',
    ],
    ['HyperIdTokenExpiredError', new HyperIdTokenExpiredError(), 'The access token has expired'],
  ])('%s: 401 with an invalid_token challenge that says why', (_name, error, description) => {
    const { exception, headers } = answerTo(error);
    expect(exception.getStatus()).toBe(401);
    expect(messageOf(exception)).toBe(description);
    expect(headers).toEqual([
      [
        'WWW-Authenticate',
        `Bearer realm="hyperid", error="invalid_token", error_description="${description}"`,
      ],
    ]);
  });

  it('HyperIdAccessDeniedError: 403 with an insufficient_scope challenge naming the scope', () => {
    const { exception, headers } = answerTo(new HyperIdAccessDeniedError());
    expect(exception.getStatus()).toBe(403);
    expect(messageOf(exception)).toBe('The access token lacks the second-factor-auth-client scope');
    expect(headers).toEqual([
      [
        'WWW-Authenticate',
        'Bearer realm="hyperid", error="insufficient_scope", scope="second-factor-auth-client"',
      ],
    ]);
  });

  it.each([
    ['HyperIdServiceUnavailableError', new HyperIdServiceUnavailableError('down', { retryAfterSeconds: 42 })],
    ['HyperIdRateLimitedError', new HyperIdRateLimitedError('slow down', { retryAfterSeconds: 42 })],
    ['HyperIdCircuitOpenError', new HyperIdCircuitOpenError('open', { retryAfterSeconds: 42 })],
    ['HyperIdBusyError', new HyperIdBusyError('busy', { retryAfterSeconds: 42 })],
  ])('%s: 503 with its own Retry-After and no challenge', (_name, error) => {
    const { exception, headers } = answerTo(error);
    expect(exception.getStatus()).toBe(503);
    expect(messageOf(exception)).toBe('HyperID is unavailable; try again later');
    expect(headers).toEqual([['Retry-After', '42']]);
    expect(logged).toEqual([]);
  });

  it.each([
    ['HyperIdInvalidRequestError', new HyperIdInvalidRequestError()],
    ['HyperIdUpstreamError', new HyperIdUpstreamError('HyperID answered HTML')],
    ['a HyperIdError of no subclass', new HyperIdError('something else HyperID got wrong')],
  ])('%s: 502 without headers, and nothing logged', (_name, error) => {
    const { exception, headers } = answerTo(error);
    expect(exception.getStatus()).toBe(502);
    expect(messageOf(exception)).toBe('HyperID gave an unexpected answer');
    expect(headers).toEqual([]);
    expect(logged).toEqual([]);
  });

  describe('anything that is not a HyperIdError fails closed', () => {
    it.each([
      ['an Error', new Error(`cannot parse Bearer ${TOKEN}`), 'Error'],
      ['a TypeError', new TypeError(`${TOKEN} is not a function`), 'TypeError'],
      ['a thrown string', `Bearer ${TOKEN}`, 'string'],
      ['undefined', undefined, 'undefined'],
      ['null', null, 'object'],
    ])('%s: 503 with the default Retry-After, logged as an error by its class only', (_name, error, kind) => {
      const { exception, headers } = answerTo(error);
      expect(exception.getStatus()).toBe(503);
      expect(messageOf(exception)).toBe('Two-factor authentication could not be verified; try again later');
      expect(headers).toEqual([['Retry-After', String(DEFAULTS.retryAfterSeconds)]]);
      expect(logged).toEqual([{ level: 'error', text: `2FA check failed unexpectedly (${kind})` }]);
      expect(JSON.stringify(exception.getResponse())).not.toContain(TOKEN);
    });
  });

  it('drops the headers when no setHeader is given, and answers the same', () => {
    const withoutHeaders = toHttpException(new HyperIdServiceUnavailableError('down'));
    expect(withoutHeaders.getStatus()).toBe(503);
    expect(toHttpException(new HyperIdTokenExpiredError()).getStatus()).toBe(401);
    expect(toHttpException(new Error('defect')).getStatus()).toBe(503);
  });
});
