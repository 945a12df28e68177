import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { HyperIdResult } from '../../lib/index.js';
import type { FakeHyperIdFault } from '../../lib/testing/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, createStrictApp, serverOf } from '../support/e2e-app.js';
import { CapturingLogger, captureProcessOutput, type CapturedLine } from '../support/log-capture.js';
import { STATUS_TABLE } from '../support/status-table.js';
import { jwtLike } from '../support/tokens.js';

const { noCredentials, malformedToken, tokenInvalid, tokenExpired, accessDenied, lackingMethods } =
  STATUS_TABLE;
const { stepUp, unavailable, badUpstream } = STATUS_TABLE;
const ALLOWED = 200;

const MARK = 'tok-secret-XYZ';

interface Outcome {
  name: string;
  /** The whole Authorization header value; it holds the secret. */
  authorization: string;
  path: string;
  status: number;
  /** Set up the fake for this token. */
  answer?: { auth_types: number[] } | { result: number };
  fault?: FakeHyperIdFault;
  /** Run against the app whose circuit breaker is already open. */
  breaker?: boolean;
  /** Run against the app with the stepUp option. */
  stepUp?: boolean;
}

// "No response or log line contains a token" (docs/reliability.md: Defences), over every outcome of the guard.
describe.each(ADAPTERS)('no token in any response or log line (%s)', (adapterName, adapter) => {
  const secret = (outcome: string) => `${MARK}-${adapterName}-${outcome}-9f8e7d6c5b4a`;
  const staleJwt = jwtLike(Math.floor(Date.now() / 1000) - 60, `${MARK}-${adapterName}-stale-jwt`);
  const outcomes: Outcome[] = [
    {
      name: 'allowed',
      authorization: `Bearer ${secret('allowed')}`,
      path: '/routes/totp',
      status: ALLOWED,
      answer: { auth_types: [1] },
    },
    {
      name: 'types',
      authorization: `Bearer ${secret('types')}`,
      path: '/routes/types',
      status: ALLOWED,
      answer: { auth_types: [3] },
    },
    {
      name: 'other scheme',
      authorization: `Basic ${secret('basic')}`,
      path: '/routes/totp',
      status: noCredentials.status,
    },
    {
      name: 'no scheme',
      authorization: secret('no-scheme'),
      path: '/routes/totp',
      status: noCredentials.status,
    },
    {
      name: 'bad syntax',
      authorization: `Bearer ${secret('bad')} ${secret('syntax')}`,
      path: '/routes/totp',
      status: malformedToken.status,
    },
    {
      name: 'bad character',
      authorization: `Bearer ${secret('comma')},x`,
      path: '/routes/totp',
      status: malformedToken.status,
    },
    {
      name: 'over 8 KiB',
      authorization: `Bearer ${secret('long')}${'L'.repeat(8300)}`,
      path: '/routes/totp',
      status: malformedToken.status,
    },
    {
      name: 'token invalid',
      authorization: `Bearer ${secret('invalid')}`,
      path: '/routes/totp',
      status: tokenInvalid.status,
      answer: { result: HyperIdResult.TokenInvalid },
    },
    {
      name: 'unknown token',
      authorization: `Bearer ${secret('unknown')}`,
      path: '/routes/totp',
      status: tokenInvalid.status,
    },
    {
      name: 'token expired',
      authorization: `Bearer ${secret('expired')}`,
      path: '/routes/totp',
      status: tokenExpired.status,
      answer: { result: HyperIdResult.TokenExpired },
    },
    {
      name: 'expired JWT',
      authorization: `Bearer ${staleJwt}`,
      path: '/routes/totp',
      status: tokenExpired.status,
    },
    {
      name: 'access denied',
      authorization: `Bearer ${secret('denied')}`,
      path: '/routes/totp',
      status: accessDenied.status,
      answer: { result: HyperIdResult.AccessDenied },
    },
    {
      name: 'lacking types',
      authorization: `Bearer ${secret('lacking')}`,
      path: '/routes/listed',
      status: lackingMethods.status,
      answer: { auth_types: [0] },
    },
    {
      name: 'step-up',
      authorization: `Bearer ${secret('step-up')}`,
      path: '/routes/listed',
      status: stepUp.status,
      answer: { auth_types: [0] },
      stepUp: true,
    },
    {
      name: 'service temporarily unavailable',
      authorization: `Bearer ${secret('unavailable')}`,
      path: '/routes/totp',
      status: unavailable.status,
      answer: { result: HyperIdResult.ServiceTemporarilyUnavailable },
    },
    {
      name: 'timeout',
      authorization: `Bearer ${secret('timeout')}`,
      path: '/routes/totp',
      status: unavailable.status,
      fault: { hang: true },
    },
    {
      name: 'reset',
      authorization: `Bearer ${secret('reset')}`,
      path: '/routes/totp',
      status: unavailable.status,
      fault: { reset: true },
    },
    {
      name: 'HTTP 500',
      authorization: `Bearer ${secret('http-500')}`,
      path: '/routes/totp',
      status: unavailable.status,
      fault: { status: 500 },
    },
    {
      name: 'invalid parameters',
      authorization: `Bearer ${secret('bad-params')}`,
      path: '/routes/totp',
      status: badUpstream.status,
      answer: { result: HyperIdResult.InvalidParameters },
    },
    {
      name: 'malformed JSON',
      authorization: `Bearer ${secret('malformed')}`,
      path: '/routes/totp',
      status: badUpstream.status,
      fault: { malformed: true },
    },
    {
      name: 'unknown result',
      authorization: `Bearer ${secret('unknown-result')}`,
      path: '/routes/totp',
      status: badUpstream.status,
      answer: { result: -42 },
    },
    {
      name: 'oversized',
      authorization: `Bearer ${secret('oversized')}`,
      path: '/routes/totp',
      status: badUpstream.status,
      fault: { oversizedBytes: 70_000 },
    },
    {
      name: 'circuit open',
      authorization: `Bearer ${secret('breaker')}`,
      path: '/routes/totp',
      status: unavailable.status,
      breaker: true,
    },
  ];

  const lines: CapturedLine[] = [];
  const responses: { name: string; status: number; text: string }[] = [];
  let fake: FakeHyperIdServer;
  let apps: INestApplication[] = [];
  let restore: (() => void) | undefined;

  beforeAll(async () => {
    restore = captureProcessOutput(lines);
    const logger = new CapturingLogger(lines);
    fake = await new FakeHyperIdServer().start();
    for (const outcome of outcomes) {
      const token = outcome.authorization.replace(/^\S+ /, '');
      if (outcome.answer) fake.setToken(token, outcome.answer);
      if (outcome.fault) fake.setToken(token, { auth_types: [1] }).injectFault(outcome.fault, token);
    }
    const main = await createStrictApp(adapter, fake.url, { cache: {} }, { logger });
    const stepUp = await createStrictApp(
      adapter,
      fake.url,
      { stepUp: { acrValues: 'urn:hyperid:2fa' } },
      { logger },
    );
    const breaker = await createStrictApp(
      adapter,
      fake.url,
      { circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 } },
      { logger },
    );
    apps = [main, stepUp, breaker];

    // Open the breaker with a failure of its own.
    const opener = `${MARK}-${adapterName}-opener`;
    fake.setToken(opener, { auth_types: [1] }).injectFault({ status: 503 }, opener);
    const opened = await request(serverOf(breaker))
      .get('/routes/totp')
      .set('Authorization', `Bearer ${opener}`);
    responses.push({
      name: 'breaker opener',
      status: opened.status,
      text: JSON.stringify(opened.headers) + opened.text,
    });

    for (const outcome of outcomes) {
      const app = outcome.breaker ? breaker : outcome.stepUp ? stepUp : main;
      const res = await request(serverOf(app)).get(outcome.path).set('Authorization', outcome.authorization);
      responses.push({
        name: outcome.name,
        status: res.status,
        text: JSON.stringify(res.headers) + res.text,
      });
    }
    for (const app of apps) await app.close();
    apps = [];
    restore();
    restore = undefined;
  });

  afterAll(async () => {
    restore?.();
    for (const app of apps) await app.close();
    await fake?.stop();
  });

  it.each(outcomes.map((outcome) => [outcome.name, outcome] as const))(
    '%s: answered as the status table says',
    (name, outcome) => {
      expect(responses.find((response) => response.name === name)?.status).toBe(outcome.status);
    },
  );

  it('the fake HyperID saw the tokens it was meant to (the scenarios really ran)', () => {
    expect(fake.calls(secret('allowed'))).toBe(1);
    expect(fake.calls(secret('timeout'))).toBe(1);
    expect(fake.calls(secret('breaker'))).toBe(0);
    expect(fake.calls(staleJwt)).toBe(0);
  });

  it("captured the app's log output (the capture works)", () => {
    const logged = lines.filter((line) => line.source.startsWith('logger.')).map((line) => line.text);
    // Nest's own start-up lines and the module's warnings about HyperID failures.
    expect(logged.some((text) => text.includes('Mapped {/routes/totp, GET}'))).toBe(true);
    expect(
      logged.some((text) => text.includes('HyperID lookup failed') && text.includes('HyperIdModule')),
    ).toBe(true);
  });

  it('no log line, console call or stream write contains a token', () => {
    const leaks = lines.filter(
      (line) => line.text.includes(MARK) || line.text.includes(staleJwt.split('.')[1]),
    );
    expect(leaks).toEqual([]);
  });

  it('no response body or header contains a token', () => {
    const leaks = responses.filter(
      (response) => response.text.includes(MARK) || response.text.includes(staleJwt.split('.')[1]),
    );
    expect(leaks.map((leak) => leak.name)).toEqual([]);
  });
});
