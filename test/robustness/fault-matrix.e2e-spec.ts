import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { HyperIdModule, HyperIdResult, type HyperIdModuleOptions } from '../../lib/index.js';
import { FakeHyperIdServer, type FakeHyperIdFault } from '../../lib/testing/index.js';
import { answerText, type AppAnswer } from '../support/app-client.js';
import { ADAPTERS, listenE2eApp, type ListeningE2eApp } from '../support/e2e-app.js';
import { freePort } from '../support/free-port.js';
import { CapturingLogger } from '../support/log-capture.js';
import { STATUS_TABLE, expectHeader, type ExpectedAnswer } from '../support/status-table.js';

// Every way HyperID can fail, each answered as README "Errors and status codes" says, on both
// adapters; after each fault the app still answers a healthy request 200. Tokens carry "Sekr3t"
// so the logs can be searched.

const GOOD = 'good-Sekr3t-token';
const VICTIM = 'victim-Sekr3t-token';
const PATH = '/2fa/types/get';
const { tokenInvalid, tokenExpired, accessDenied, unavailable, badUpstream } = STATUS_TABLE;

type Adapter = (typeof ADAPTERS)[number][1];
const [[, express]] = ADAPTERS;

/** The TOTP-guarded app on `adapter` with `options`, listening for a real HTTP client. */
function boot(adapter: Adapter, options: HyperIdModuleOptions, logger: CapturingLogger) {
  return listenE2eApp({ adapter, hyperId: HyperIdModule.forRoot(options), logger });
}

/** Asserts the status table's answer for each kind of outcome. */
function expectAnswer(res: AppAnswer, answer: ExpectedAnswer): void {
  expect(res.status).toBe(answer.status);
  expect(answerText(res)).not.toContain('Sekr3t');
  const body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  expect(body.statusCode).toBe(answer.status);
  if (answer === unavailable || answer === badUpstream) {
    expectHeader(res.headers['retry-after'], answer.retryAfter);
  }
}

const NOT_JSON_ANSWERS: [string, FakeHyperIdFault][] = [
  ['a truncated JSON body', { malformed: true }],
  ['an HTML page with status 200', { body: '<html><body>Maintenance</body></html>' }],
  ['an empty body', { body: '' }],
];
const WRONG_TYPES: string[] = [
  '{"result":"0","auth_types":[1]}',
  '{"result":0,"auth_types":"1"}',
  '{"result":0,"auth_types":[true]}',
  '{"result":0,"auth_types":["1"]}',
  '{"result":0,"auth_types":null}',
  '{"result":0,"auth_types":{"0":1}}',
  '{"result":0}',
  '{"auth_types":[1]}',
  '{"result":null,"auth_types":[1]}',
  '{"result":0.5,"auth_types":[1]}',
  '[{"result":0,"auth_types":[1]}]',
  '"{\\"result\\":0,\\"auth_types\\":[1]}"',
  'null',
];

describe.each(ADAPTERS)('fault matrix (%s)', (_name, adapter) => {
  const logger = new CapturingLogger();
  let fake: FakeHyperIdServer;
  let redirectTarget: FakeHyperIdServer;
  let onFake: ListeningE2eApp; // retries 0, timeoutMs 1000
  let patient: ListeningE2eApp; // retries 0, long timeout: only the size limit can stop a dribbled body

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: { [GOOD]: { auth_types: [1, 3] }, [VICTIM]: { auth_types: [1] } },
    }).start();
    redirectTarget = await new FakeHyperIdServer().start();
    const base = { cache: false, circuitBreaker: false, retries: 0 } as const;
    onFake = await boot(adapter, { ...base, apiUrl: fake.url, timeoutMs: 1000 }, logger);
    patient = await boot(adapter, { ...base, apiUrl: fake.url, timeoutMs: 25_000 }, logger);
  });

  afterAll(async () => {
    await onFake?.close();
    await patient?.close();
    await fake?.stop();
    await redirectTarget?.stop();
  });

  /** Injects `fault` for the victim token and expects `answer` from `app` (then removes the fault). */
  async function answerWithFault(
    fault: FakeHyperIdFault,
    answer: ExpectedAnswer,
    app = onFake,
  ): Promise<AppAnswer> {
    fake.clearFaults().resetCalls().injectFault(fault, VICTIM);
    try {
      const res = await app.get(VICTIM);
      expectAnswer(res, answer);
      return res;
    } finally {
      fake.clearFaults();
    }
  }

  /** Injects `fault` for the victim token, expects `answer` after one call, then a healthy request passes. */
  async function faultOnFake(fault: FakeHyperIdFault, answer: ExpectedAnswer): Promise<AppAnswer> {
    const res = await answerWithFault(fault, answer);
    expect(fake.calls(VICTIM)).toBe(1);
    const healthy = await onFake.get(GOOD);
    expect(healthy.status).toBe(200);
    return res;
  }

  describe('transient failures → 503 with Retry-After', () => {
    it('HyperID hangs past timeoutMs', async () => {
      await faultOnFake({ hang: true }, unavailable);
    });

    it('HyperID answers headers later than timeoutMs', async () => {
      await faultOnFake({ latencyMs: 3_000 }, unavailable);
    });

    it('HyperID resets the connection before answering', async () => {
      await faultOnFake({ reset: true }, unavailable);
    });

    it.each([500, 502, 503, 504])('HyperID answers HTTP %i with an HTML page', async (status) => {
      await faultOnFake({ status }, unavailable);
    });

    it('HyperID answers service temporarily unavailable', async () => {
      await faultOnFake({ result: HyperIdResult.ServiceTemporarilyUnavailable }, unavailable);
    });

    it('HyperID refuses connections (nothing listens on its port), and is used once it is back', async () => {
      const port = await freePort();
      const refused = await boot(
        adapter,
        { apiUrl: `http://127.0.0.1:${port}`, cache: false, circuitBreaker: false, retries: 0 },
        logger,
      );
      let revived: FakeHyperIdServer | undefined;
      try {
        expectAnswer(await refused.get(GOOD), unavailable);
        revived = await new FakeHyperIdServer({ port, tokens: { [GOOD]: { auth_types: [1, 3] } } }).start();
        expect((await refused.get(GOOD)).status).toBe(200);
        expect(revived.calls(GOOD)).toBe(1);
      } finally {
        await refused.close();
        await revived?.stop();
      }
    });

    it('HyperID resets mid-answer (half of a Content-Length body, then the socket is destroyed)', async () => {
      const body = JSON.stringify({ result: 0, auth_types: [1], padding: 'x'.repeat(200) });
      await answerWithFault(
        { body: body.slice(0, body.length / 2), contentLength: Buffer.byteLength(body), cutAfterMs: 20 },
        unavailable,
      );
      expect((await onFake.get(GOOD)).status).toBe(200);
    });

    it('HyperID resets mid-answer (a chunked body cut off)', async () => {
      await answerWithFault({ body: '{"result":0,"auth_types":[1', cutAfterMs: 20 }, unavailable);
      expect((await onFake.get(GOOD)).status).toBe(200);
    });

    it('HyperID dribbles a body that never ends: the per-attempt timeout covers the body too', async () => {
      // Whitespace, one byte at a time, for far longer than the test may take.
      await answerWithFault(
        { body: '{"result":0,"auth_types":[1]', dribble: { chunk: ' ', everyMs: 25 } },
        unavailable,
      );
      expect((await onFake.get(GOOD)).status).toBe(200);
    }, 15_000);
  });

  describe('unexpected answers → 502', () => {
    it.each(NOT_JSON_ANSWERS)('HyperID answers %s', async (_name, fault) => {
      await faultOnFake(fault, badUpstream);
    });

    it.each(WRONG_TYPES)('HyperID answers the wrong types: %s', async (body) => {
      await faultOnFake({ body }, badUpstream);
    });

    it.each([7, 1, -6, -100, 2 ** 31])('HyperID answers the unknown result code %i', async (result) => {
      await faultOnFake({ result }, badUpstream);
    });

    it('HyperID answers invalid parameters', async () => {
      await faultOnFake({ result: HyperIdResult.InvalidParameters }, badUpstream);
    });

    it('HyperID answers a body over 64 KiB at once', async () => {
      await faultOnFake({ oversizedBytes: 100_000 }, badUpstream);
    });

    it('HyperID answers a success padded to just over 64 KiB', async () => {
      const core = '{"result":0,"auth_types":[1]}';
      await faultOnFake({ body: core + ' '.repeat(64 * 1024 + 1 - core.length) }, badUpstream);
    });

    it('HyperID dribbles a body past 64 KiB that would never end: refused promptly', async () => {
      const start = '{"result":0,"auth_types":[1],"padding":"';
      // timeoutMs is 25 s here: only the size limit can end this within the test's 10 s.
      await answerWithFault(
        { body: start, dribble: { chunk: 'x'.repeat(4096), everyMs: 10 } },
        badUpstream,
        patient,
      );
      expect((await patient.get(GOOD)).status).toBe(200);
    }, 10_000);

    it('HyperID declares and dribbles a Content-Length over 64 KiB: refused promptly', async () => {
      const start = '{"result":0,"auth_types":[1],"padding":"';
      await answerWithFault(
        { body: start, contentLength: 1_000_000, dribble: { chunk: 'x'.repeat(4096), everyMs: 10 } },
        badUpstream,
        patient,
      );
      expect((await patient.get(GOOD)).status).toBe(200);
    }, 10_000);

    it('HyperID redirects (302, redirectTo): not followed, the target sees nothing', async () => {
      const before = redirectTarget.calls();
      await faultOnFake({ redirectTo: `${redirectTarget.url}${PATH}` }, badUpstream);
      expect(redirectTarget.calls()).toBe(before);
    });

    it.each([301, 302, 303, 307, 308])(
      'HyperID redirects with %i: not followed, no token leaves',
      async (status) => {
        const before = redirectTarget.calls();
        await answerWithFault(
          { status, headers: { Location: `${redirectTarget.url}${PATH}` }, body: '' },
          badUpstream,
        );
        expect(redirectTarget.calls()).toBe(before);
        expect(redirectTarget.requests.some((r) => r.headers.authorization !== undefined)).toBe(false);
        expect((await onFake.get(GOOD)).status).toBe(200);
      },
    );
  });

  describe('answers about the token', () => {
    it('access denied → 403 insufficient_scope', async () => {
      const res = await faultOnFake({ result: HyperIdResult.AccessDenied }, accessDenied);
      expectHeader(res.headers['www-authenticate'], accessDenied.wwwAuthenticate);
    });

    it.each([
      ['token expired', HyperIdResult.TokenExpired, tokenExpired],
      ['token invalid', HyperIdResult.TokenInvalid, tokenInvalid],
    ])('%s → 401 invalid_token', async (_name, result, answer) => {
      const res = await faultOnFake({ result }, answer);
      expectHeader(res.headers['www-authenticate'], answer.wwwAuthenticate);
    });

    it('a body that arrives slowly but within timeoutMs is accepted', async () => {
      fake
        .clearFaults()
        .injectFault({ trickle: { parts: ['{"result":0,', '"auth_types":', '[1]}'], everyMs: 20 } }, VICTIM);
      try {
        expect((await patient.get(VICTIM)).status).toBe(200);
      } finally {
        fake.clearFaults();
      }
    });
  });

  it('logged no token during the whole matrix', () => {
    expect(logger.lines.some((line) => line.includes('HyperID lookup failed'))).toBe(true);
    expect(logger.linesContaining('Sekr3t')).toEqual([]);
  });
});

describe('retries (retries: 2)', () => {
  const logger = new CapturingLogger();
  let fake: FakeHyperIdServer;
  let onFake: ListeningE2eApp;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [GOOD]: { auth_types: [1] } } }).start();
    // timeoutMs leaves room for a busy machine: a slow healthy attempt must not look like a fault.
    const options = { cache: false, circuitBreaker: false, retries: 2, timeoutMs: 1000 } as const;
    onFake = await boot(express, { ...options, apiUrl: fake.url }, logger);
  });

  afterAll(async () => {
    await onFake?.close();
    await fake?.stop();
  });

  const cases: [string, FakeHyperIdFault, ExpectedAnswer, number][] = [
    [
      'service temporarily unavailable',
      { result: HyperIdResult.ServiceTemporarilyUnavailable },
      unavailable,
      3,
    ],
    ['HTTP 503', { status: 503 }, unavailable, 3],
    ['a hang', { hang: true }, unavailable, 3],
    ['a reset', { reset: true }, unavailable, 3],
    ['invalid parameters', { result: HyperIdResult.InvalidParameters }, badUpstream, 1],
    ['access denied', { result: HyperIdResult.AccessDenied }, accessDenied, 1],
    ['token expired', { result: HyperIdResult.TokenExpired }, tokenExpired, 1],
    ['token invalid', { result: HyperIdResult.TokenInvalid }, tokenInvalid, 1],
    ['a malformed body', { malformed: true }, badUpstream, 1],
    ['an unknown code', { result: 9 }, badUpstream, 1],
    ['a redirect', { redirectTo: 'http://127.0.0.1:9/' }, badUpstream, 1],
    ['an oversized body', { oversizedBytes: 100_000 }, badUpstream, 1],
  ];

  it.each(cases.map(([name, fault, answer, calls]) => [name, fault, answer.status, calls, answer] as const))(
    '%s %j: answered %i after %i HyperID call(s)',
    async (_name, fault, _status, calls, answer) => {
      fake.clearFaults().resetCalls().injectFault(fault, VICTIM);
      const res = await onFake.get(VICTIM);
      fake.clearFaults();
      expectAnswer(res, answer);
      expect(fake.calls(VICTIM)).toBe(calls);
      expect((await onFake.get(GOOD)).status).toBe(200);
    },
  );

  it('a transient failure followed by a success lets the request through', async () => {
    fake
      .clearFaults()
      .resetCalls()
      .setToken(VICTIM, { auth_types: [1] });
    fake.scriptFaults([{ status: 503, body: JSON.stringify({ error: 'busy' }) }], VICTIM);
    expect((await onFake.get(VICTIM)).status).toBe(200);
    expect(fake.calls(VICTIM)).toBe(2);
  });

  it('logged no token', () => {
    expect(logger.linesContaining('Sekr3t')).toEqual([]);
  });
});

describe('circuit breaker (threshold: 3)', () => {
  const logger = new CapturingLogger();
  let fake: FakeHyperIdServer;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [GOOD]: { auth_types: [1] } } }).start();
  });

  afterAll(async () => {
    await fake?.stop();
  });

  /** A fresh app (so a fresh breaker) with threshold 3 and no cache, closed after `body`. */
  async function withBreakerApp(
    { retries, halfOpenAfterMs = 60_000 }: { retries: number; halfOpenAfterMs?: number },
    body: (app: ListeningE2eApp) => Promise<void>,
  ): Promise<void> {
    const app = await boot(
      express,
      { apiUrl: fake.url, cache: false, retries, circuitBreaker: { threshold: 3, halfOpenAfterMs } },
      logger,
    );
    try {
      await body(app);
    } finally {
      await app.close();
    }
  }

  it('after three consecutive transient failures answers 503 with Retry-After without calling HyperID', async () => {
    await withBreakerApp({ retries: 0 }, async (app) => {
      fake
        .clearFaults()
        .resetCalls()
        .injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable }, VICTIM);
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(VICTIM), unavailable);
      expect(fake.calls()).toBe(3);
      fake.clearFaults();

      // Open: even a healthy token is refused at once, and HyperID is left alone.
      const res = await app.get(GOOD);
      expectAnswer(res, unavailable);
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(30); // seconds until the probe, not the default
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(fake.calls()).toBe(3);
    });
  });

  it('with retries: 2, counts lookups, not attempts: two failed lookups (six calls) leave it closed', async () => {
    await withBreakerApp({ retries: 2 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 500 }, VICTIM);
      expectAnswer(await app.get(VICTIM), unavailable);
      expectAnswer(await app.get(VICTIM), unavailable);
      expect(fake.calls()).toBe(6);
      fake.clearFaults();
      expect((await app.get(GOOD)).status).toBe(200);
      expect(fake.calls()).toBe(7);
    });
  });

  it('with retries: 2, the third failed lookup opens it', async () => {
    await withBreakerApp({ retries: 2 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 500 }, VICTIM);
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(VICTIM), unavailable);
      expect(fake.calls()).toBe(9);
      fake.clearFaults();
      expectAnswer(await app.get(GOOD), unavailable);
      expect(fake.calls()).toBe(9);
    });
  });

  it('HTTP 429 is answered 503 with its Retry-After, not retried, and never opens it', async () => {
    await withBreakerApp({ retries: 2 }, async (app) => {
      fake
        .clearFaults()
        .resetCalls()
        .injectFault({ status: 429, headers: { 'Retry-After': '42' } }, VICTIM);
      for (let i = 0; i < 5; i += 1) {
        const res = await app.get(VICTIM);
        expectAnswer(res, unavailable);
        expect(res.headers['retry-after']).toBe('42');
      }
      expect(fake.calls()).toBe(5);
      fake.clearFaults();
      expect((await app.get(GOOD)).status).toBe(200);
    });
  });

  it('answers about the token (expired, invalid, access denied, invalid parameters) never open it', async () => {
    await withBreakerApp({ retries: 0 }, async (app) => {
      fake.clearFaults().resetCalls();
      const { TokenExpired, TokenInvalid, AccessDenied, InvalidParameters } = HyperIdResult;
      for (const result of [
        TokenExpired,
        TokenInvalid,
        AccessDenied,
        InvalidParameters,
        TokenExpired,
        TokenInvalid,
      ]) {
        fake.injectFault({ result }, VICTIM);
        expect((await app.get(VICTIM)).status).not.toBe(unavailable.status);
      }
      fake.clearFaults();
      expect((await app.get(GOOD)).status).toBe(200);
      expect(fake.calls()).toBe(7);
    });
  });

  it('probes again after halfOpenAfterMs and closes on success', async () => {
    await withBreakerApp({ retries: 0, halfOpenAfterMs: 300 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 503 });
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(GOOD), unavailable);
      fake.clearFaults();
      expectAnswer(await app.get(GOOD), unavailable);
      expect(fake.calls()).toBe(3);

      await new Promise((resolve) => setTimeout(resolve, 600));
      expect((await app.get(GOOD)).status).toBe(200); // the probe
      expect((await app.get(GOOD)).status).toBe(200); // closed again
      expect(fake.calls()).toBe(5);
    });
  });

  it('logged no token', () => {
    expect(logger.linesContaining('Sekr3t')).toEqual([]);
  });
});
