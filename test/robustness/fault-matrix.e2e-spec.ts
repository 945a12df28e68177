import 'reflect-metadata';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorType,
  type HyperIdModuleOptions,
} from '../../lib/index.js';
import { FakeHyperIdServer, type FakeHyperIdFault } from '../../lib/testing/index.js';
import { AppClient, CapturingLogger, answerText, type AppAnswer } from '../property/support.js';
import { ScriptedUpstream, closedPort, json } from './scripted-upstream.js';

// Every way HyperID can fail, each mapped as SPEC §3 says, on both adapters; after each fault the
// app still answers a healthy request 200. Tokens carry "Sekr3t" so the logs can be searched.

@Controller()
class GuardedController {
  @Get('guarded')
  @RequireTwoFactor(TwoFactorType.Totp)
  guarded() {
    return { ok: true };
  }
}

const GOOD = 'good-Sekr3t-token';
const VICTIM = 'victim-Sekr3t-token';
const PATH = '/2fa/types/get';

type Adapter = 'express' | 'fastify';

/** One booted app and a client for it; `close()` shuts both. */
interface Booted {
  app: INestApplication;
  client: AppClient;
  get(token?: string): Promise<AppAnswer>;
  close(): Promise<void>;
}

async function boot(
  adapter: Adapter,
  options: HyperIdModuleOptions,
  logger: CapturingLogger,
): Promise<Booted> {
  const moduleRef = await Test.createTestingModule({
    imports: [HyperIdModule.forRoot({ isGlobal: true, ...options })],
    controllers: [GuardedController],
  }).compile();
  const app =
    adapter === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger })
      : moduleRef.createNestApplication({ logger });
  const client = await AppClient.listen(app);
  return {
    app,
    client,
    get: (token) => client.get('/guarded', token === undefined ? undefined : `Bearer ${token}`),
    close: async () => {
      client.close();
      await app.close();
    },
  };
}

/** Asserts the SPEC §3 answer for each kind of outcome. */
function expectAnswer(res: AppAnswer, status: number): void {
  expect(res.status).toBe(status);
  expect(answerText(res)).not.toContain('Sekr3t');
  const body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  expect(body.statusCode).toBe(status);
  if (status === 503) {
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
  }
  if (status === 502) expect(res.headers['retry-after']).toBeUndefined();
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

describe.each<Adapter>(['express', 'fastify'])('fault matrix (%s)', (adapter) => {
  const logger = new CapturingLogger();
  let fake: FakeHyperIdServer;
  let scripted: ScriptedUpstream;
  let redirectTarget: ScriptedUpstream;
  let onFake: Booted; // retries 0, timeoutMs 1000
  let onScripted: Booted; // retries 0, timeoutMs 1000
  let patient: Booted; // retries 0, long timeout: only the size limit can stop a dribbled body

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: { [GOOD]: { auth_types: [1, 3] }, [VICTIM]: { auth_types: [1] } },
    }).start();
    scripted = await new ScriptedUpstream().start();
    redirectTarget = await new ScriptedUpstream().start();
    const base = { cache: false, circuitBreaker: false, retries: 0 } as const;
    onFake = await boot(adapter, { ...base, apiUrl: fake.url, timeoutMs: 1000 }, logger);
    onScripted = await boot(adapter, { ...base, apiUrl: scripted.url, timeoutMs: 1000 }, logger);
    patient = await boot(adapter, { ...base, apiUrl: scripted.url, timeoutMs: 25_000 }, logger);
  });

  afterAll(async () => {
    await onFake?.close();
    await onScripted?.close();
    await patient?.close();
    await fake?.stop();
    await scripted?.stop();
    await redirectTarget?.stop();
  });

  /** Writes `chunk` every `ms` until the client goes away (or the server stops). */
  function dribble(res: ServerResponse, chunk: string, ms: number): void {
    res.on('error', () => undefined);
    scripted.every(ms, () => {
      if (!res.socket || res.socket.destroyed) return false;
      res.write(chunk);
      return true;
    });
  }

  /** Injects `fault` for the victim token, expects `status`, then a healthy request passes. */
  async function faultOnFake(fault: FakeHyperIdFault, status: number): Promise<AppAnswer> {
    fake.clearFaults().resetCalls().injectFault(fault, VICTIM);
    try {
      const res = await onFake.get(VICTIM);
      expectAnswer(res, status);
      expect(fake.calls(VICTIM)).toBe(1);
      const healthy = await onFake.get(GOOD);
      expect(healthy.status).toBe(200);
      return res;
    } finally {
      fake.clearFaults();
    }
  }

  describe('transient failures → 503 with Retry-After', () => {
    it('HyperID hangs past timeoutMs', async () => {
      await faultOnFake({ hang: true }, 503);
    });

    it('HyperID answers headers later than timeoutMs', async () => {
      await faultOnFake({ latencyMs: 3_000 }, 503);
    });

    it('HyperID resets the connection before answering', async () => {
      await faultOnFake({ reset: true }, 503);
    });

    it.each([500, 502, 503, 504])('HyperID answers HTTP %i with an HTML page', async (status) => {
      await faultOnFake({ status }, 503);
    });

    it('HyperID answers service temporarily unavailable', async () => {
      await faultOnFake({ result: HyperIdResult.ServiceTemporarilyUnavailable }, 503);
    });

    it('HyperID refuses connections (nothing listens on its port), and is used once it is back', async () => {
      const port = await closedPort();
      const refused = await boot(
        adapter,
        { apiUrl: `http://127.0.0.1:${port}`, cache: false, circuitBreaker: false, retries: 0 },
        logger,
      );
      let revived: ScriptedUpstream | undefined;
      try {
        expectAnswer(await refused.get(GOOD), 503);
        revived = await new ScriptedUpstream().start(port);
        expect((await refused.get(GOOD)).status).toBe(200);
        expect(revived.calls(GOOD)).toBe(1);
      } finally {
        await refused.close();
        await revived?.stop();
      }
    });

    it('HyperID resets mid-answer (half of a Content-Length body, then the socket is destroyed)', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        const body = JSON.stringify({ result: 0, auth_types: [1], padding: 'x'.repeat(200) });
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.write(body.slice(0, body.length / 2));
        setTimeout(() => res.socket?.destroy(), 20);
      });
      expectAnswer(await onScripted.get(VICTIM), 503);
      expect((await onScripted.get(GOOD)).status).toBe(200);
    });

    it('HyperID resets mid-answer (a chunked body cut off)', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"result":0,"auth_types":[1');
        setTimeout(() => res.socket?.destroy(), 20);
      });
      expectAnswer(await onScripted.get(VICTIM), 503);
      expect((await onScripted.get(GOOD)).status).toBe(200);
    });

    it('HyperID dribbles a body that never ends: the per-attempt timeout covers the body too', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"result":0,"auth_types":[1]');
        // Whitespace, one byte at a time, for far longer than the test may take.
        dribble(res, ' ', 25);
      });
      expectAnswer(await onScripted.get(VICTIM), 503);
      expect((await onScripted.get(GOOD)).status).toBe(200);
    }, 15_000);
  });

  describe('unexpected answers → 502', () => {
    it.each(NOT_JSON_ANSWERS)('HyperID answers %s', async (_name, fault) => {
      await faultOnFake(fault, 502);
    });

    it.each(WRONG_TYPES)('HyperID answers the wrong types: %s', async (body) => {
      await faultOnFake({ body }, 502);
    });

    it.each([7, 1, -6, -100, 2 ** 31])('HyperID answers the unknown result code %i', async (result) => {
      await faultOnFake({ result }, 502);
    });

    it('HyperID answers invalid parameters', async () => {
      await faultOnFake({ result: HyperIdResult.InvalidParameters }, 502);
    });

    it('HyperID answers a body over 64 KiB at once', async () => {
      await faultOnFake({ oversizedBytes: 100_000 }, 502);
    });

    it('HyperID answers a success padded to just over 64 KiB', async () => {
      const core = '{"result":0,"auth_types":[1]}';
      await faultOnFake({ body: core + ' '.repeat(64 * 1024 + 1 - core.length) }, 502);
    });

    it('HyperID dribbles a body past 64 KiB that would never end: refused promptly', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"result":0,"auth_types":[1],"padding":"');
        dribble(res, 'x'.repeat(4096), 10);
      });
      // timeoutMs is 25 s here: only the size limit can end this within the test's 10 s.
      expectAnswer(await patient.get(VICTIM), 502);
      expect((await patient.get(GOOD)).status).toBe(200);
    }, 10_000);

    it('HyperID declares and dribbles a Content-Length over 64 KiB: refused promptly', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 1_000_000 });
        res.write('{"result":0,"auth_types":[1],"padding":"');
        dribble(res, 'x'.repeat(4096), 10);
      });
      expectAnswer(await patient.get(VICTIM), 502);
      expect((await patient.get(GOOD)).status).toBe(200);
    }, 10_000);

    it('HyperID redirects (302, FakeHyperIdServer): not followed, the target sees nothing', async () => {
      const before = redirectTarget.calls();
      await faultOnFake({ redirectTo: `${redirectTarget.url}${PATH}` }, 502);
      expect(redirectTarget.calls()).toBe(before);
    });

    it.each([301, 302, 303, 307, 308])(
      'HyperID redirects with %i: not followed, no token leaves',
      async (status) => {
        const before = redirectTarget.calls();
        scripted.behaviours.set(VICTIM, (_req, res) => {
          res.writeHead(status, { Location: `${redirectTarget.url}${PATH}`, 'Content-Length': 0 }).end();
        });
        expectAnswer(await onScripted.get(VICTIM), 502);
        expect(redirectTarget.calls()).toBe(before);
        expect(redirectTarget.received.some((r) => r.authorization !== undefined)).toBe(false);
        expect((await onScripted.get(GOOD)).status).toBe(200);
      },
    );
  });

  describe('answers about the token', () => {
    it('access denied → 403 insufficient_scope', async () => {
      const res = await faultOnFake({ result: HyperIdResult.AccessDenied }, 403);
      expect(res.headers['www-authenticate']).toBe(
        'Bearer realm="hyperid", error="insufficient_scope", scope="second-factor-auth-client"',
      );
    });

    it.each([
      ['token expired', HyperIdResult.TokenExpired],
      ['token invalid', HyperIdResult.TokenInvalid],
    ])('%s → 401 invalid_token', async (_name, result) => {
      const res = await faultOnFake({ result }, 401);
      expect(res.headers['www-authenticate']).toMatch(
        /^Bearer realm="hyperid", error="invalid_token", error_description="[^"]+"$/,
      );
    });

    it('a body that arrives slowly but within timeoutMs is accepted', async () => {
      scripted.behaviours.set(VICTIM, (_req, res) => {
        const parts = ['{"result":0,', '"auth_types":', '[1]}'];
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write(parts.shift());
        scripted.every(20, () => {
          const part = parts.shift();
          if (part === undefined) return false;
          if (parts.length === 0) res.end(part);
          else res.write(part);
          return true;
        });
      });
      expect((await patient.get(VICTIM)).status).toBe(200);
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
  let scripted: ScriptedUpstream;
  let onFake: Booted;
  let onScripted: Booted;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { [GOOD]: { auth_types: [1] } } }).start();
    scripted = await new ScriptedUpstream().start();
    // timeoutMs leaves room for a busy machine: a slow healthy attempt must not look like a fault.
    const options = { cache: false, circuitBreaker: false, retries: 2, timeoutMs: 1000 } as const;
    onFake = await boot('express', { ...options, apiUrl: fake.url }, logger);
    onScripted = await boot('express', { ...options, apiUrl: scripted.url }, logger);
  });

  afterAll(async () => {
    await onFake?.close();
    await onScripted?.close();
    await fake?.stop();
    await scripted?.stop();
  });

  const cases: [string, FakeHyperIdFault, number, number][] = [
    ['service temporarily unavailable', { result: HyperIdResult.ServiceTemporarilyUnavailable }, 503, 3],
    ['HTTP 503', { status: 503 }, 503, 3],
    ['a hang', { hang: true }, 503, 3],
    ['a reset', { reset: true }, 503, 3],
    ['invalid parameters', { result: HyperIdResult.InvalidParameters }, 502, 1],
    ['access denied', { result: HyperIdResult.AccessDenied }, 403, 1],
    ['token expired', { result: HyperIdResult.TokenExpired }, 401, 1],
    ['token invalid', { result: HyperIdResult.TokenInvalid }, 401, 1],
    ['a malformed body', { malformed: true }, 502, 1],
    ['an unknown code', { result: 9 }, 502, 1],
    ['a redirect', { redirectTo: 'http://127.0.0.1:9/' }, 502, 1],
    ['an oversized body', { oversizedBytes: 100_000 }, 502, 1],
  ];

  it.each(cases)('%s %j: answered %i after %i HyperID call(s)', async (_name, fault, status, calls) => {
    fake.clearFaults().resetCalls().injectFault(fault, VICTIM);
    const res = await onFake.get(VICTIM);
    fake.clearFaults();
    expectAnswer(res, status);
    expect(fake.calls(VICTIM)).toBe(calls);
    expect((await onFake.get(GOOD)).status).toBe(200);
  });

  it('a transient failure followed by a success lets the request through', async () => {
    let attempts = 0;
    scripted.behaviours.set(VICTIM, (req, res) => {
      attempts += 1;
      (attempts === 1 ? json(503, { error: 'busy' }) : json(200, { result: 0, auth_types: [1] }))(req, res);
    });
    expect((await onScripted.get(VICTIM)).status).toBe(200);
    expect(scripted.calls(VICTIM)).toBe(2);
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
    body: (app: Awaited<ReturnType<typeof boot>>) => Promise<void>,
  ): Promise<void> {
    const app = await boot(
      'express',
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
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(VICTIM), 503);
      expect(fake.calls()).toBe(3);
      fake.clearFaults();

      // Open: even a healthy token is refused at once, and HyperID is left alone.
      const res = await app.get(GOOD);
      expectAnswer(res, 503);
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThan(30); // seconds until the probe, not the 1 s default
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(fake.calls()).toBe(3);
    });
  });

  it('with retries: 2, counts lookups, not attempts: two failed lookups (six calls) leave it closed', async () => {
    await withBreakerApp({ retries: 2 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 500 }, VICTIM);
      expectAnswer(await app.get(VICTIM), 503);
      expectAnswer(await app.get(VICTIM), 503);
      expect(fake.calls()).toBe(6);
      fake.clearFaults();
      expect((await app.get(GOOD)).status).toBe(200);
      expect(fake.calls()).toBe(7);
    });
  });

  it('with retries: 2, the third failed lookup opens it', async () => {
    await withBreakerApp({ retries: 2 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 500 }, VICTIM);
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(VICTIM), 503);
      expect(fake.calls()).toBe(9);
      fake.clearFaults();
      expectAnswer(await app.get(GOOD), 503);
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
        expectAnswer(res, 503);
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
        expect((await app.get(VICTIM)).status).not.toBe(503);
      }
      fake.clearFaults();
      expect((await app.get(GOOD)).status).toBe(200);
      expect(fake.calls()).toBe(7);
    });
  });

  it('probes again after halfOpenAfterMs and closes on success', async () => {
    await withBreakerApp({ retries: 0, halfOpenAfterMs: 300 }, async (app) => {
      fake.clearFaults().resetCalls().injectFault({ status: 503 });
      for (let i = 0; i < 3; i += 1) expectAnswer(await app.get(GOOD), 503);
      fake.clearFaults();
      expectAnswer(await app.get(GOOD), 503);
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
