import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  Controller,
  Get,
  type DynamicModule,
  type ExecutionContext,
  type INestApplication,
} from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import request from 'supertest';
import {
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorType,
  VerifiedTwoFactorTypes,
  type HyperIdModuleOptions,
  type TwoFactorWouldRefuseEvent,
} from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { DocModules } from '../support/doc-modules.js';
import { ADAPTERS } from '../support/e2e-app.js';
import { CapturingLogger } from '../support/log-capture.js';
import { STATUS_TABLE } from '../support/status-table.js';

// The rollout tools of docs/rollout.md on both adapters: conditional requirements (the page's
// transfer example, run as written), report mode and enrollment URLs. The suite imports the built
// package, as the page's example does, so that both share one TwoFactorGuard.

const modules = new DocModules('rollout');

const TOKENS = {
  /** Has the HyperID authenticator app (and TOTP). */
  app: 'rollout-app-user-secret-token',
  /** Has TOTP only: lacks the authenticator app. */
  totp: 'rollout-totp-user-secret-token',
  /** HyperID does not know it. */
  unknown: 'rollout-unknown-secret-token',
};
const { HyperIdAuthenticator, Totp } = TwoFactorType;

/** A reader the test pulls the would-refuse counter from. */
class PullReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Routes whose condition fails: synchronously, and as a rejected promise. */
@Controller('conditions')
class FailingConditionsController {
  @Get('throws')
  @RequireTwoFactor({
    allOf: [HyperIdAuthenticator],
    when: () => {
      throw new TypeError(`cannot read ${TOKENS.totp}`);
    },
  })
  throws() {
    return { ok: true };
  }

  @Get('rejects')
  @RequireTwoFactor({
    allOf: [HyperIdAuthenticator],
    when: () => Promise.reject(new RangeError(`cannot read ${TOKENS.totp}`)),
  })
  rejects() {
    return { ok: true };
  }

  @Get('async-false')
  @RequireTwoFactor({ allOf: [HyperIdAuthenticator], when: () => Promise.resolve(false) })
  asyncFalse() {
    return { ok: true };
  }

  @Get('undefined')
  @RequireTwoFactor({
    allOf: [HyperIdAuthenticator],
    when: (() => undefined) as unknown as (context: ExecutionContext) => boolean,
  })
  answersUndefined() {
    return { ok: true };
  }
}

/** One route in report mode while the module enforces, one that enforces in any case. */
@Controller('report')
class ReportController {
  @Get('app')
  @RequireTwoFactor({ allOf: [HyperIdAuthenticator], enforce: 'report' })
  app(@VerifiedTwoFactorTypes() types: TwoFactorType[]) {
    return { types };
  }

  @Get('enforced')
  @RequireTwoFactor({ allOf: [HyperIdAuthenticator], enforce: 'enforce' })
  enforced() {
    return { ok: true };
  }

  @Get('default')
  @RequireTwoFactor(HyperIdAuthenticator)
  byDefault() {
    return { ok: true };
  }
}

describe.each(ADAPTERS)('rollout tools on %s', (_name, adapter: () => AbstractHttpAdapter) => {
  const reader = new PullReader();
  let fake: FakeHyperIdServer;
  let transfers: new () => object;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
    const file = await modules.write(
      'docs/rollout.md',
      'rollout-transfer',
      `transfers-${_name}.controller.ts`,
    );
    ({ TransfersController: transfers } = (await import(file)) as { TransfersController: new () => object });
    fake = await new FakeHyperIdServer({
      tokens: {
        [TOKENS.app]: { auth_types: [HyperIdAuthenticator, Totp] },
        [TOKENS.totp]: { auth_types: [Totp] },
      },
    }).start();
  });

  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    fake.clearFaults();
  });

  afterAll(async () => {
    await fake?.stop();
    metrics.disable();
    await modules.remove();
  });

  async function start(options: HyperIdModuleOptions = {}, logger = new CapturingLogger()) {
    const hyperId: DynamicModule = HyperIdModule.forRoot({
      apiUrl: fake.url,
      cache: false,
      retries: 0,
      circuitBreaker: false,
      timeoutMs: 300,
      ...options,
    });
    const moduleRef = await Test.createTestingModule({
      imports: [hyperId],
      controllers: [transfers, FailingConditionsController, ReportController],
    })
      .setLogger(logger)
      .compile();
    const app = moduleRef.createNestApplication(adapter());
    app.useLogger(logger);
    await app.init();
    if (app.getHttpAdapter().getType() === 'fastify') {
      await (app.getHttpAdapter().getInstance() as { ready(): Promise<unknown> }).ready();
    }
    apps.push(app);
    return { server: app.getHttpServer(), logger };
  }

  const transfer = (server: unknown, amount: unknown, token?: string) => {
    const req = request(server as never)
      .post('/transfers')
      .send({ amount, to: 'savings' });
    return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
  };

  describe('a condition: the transfer example of docs/rollout.md', () => {
    it.each([0, 50, 1000])(
      'amount %p: passes without calling HyperID, even without a token',
      async (amount) => {
        const { server } = await start();
        const calls = fake.calls();
        expect((await transfer(server, amount, TOKENS.totp)).status).toBe(201);
        expect((await transfer(server, amount)).status).toBe(201);
        expect(fake.calls()).toBe(calls);
      },
    );

    it('amount over the limit: the usual answers', async () => {
      const { server } = await start();
      const allowed = await transfer(server, 5000, TOKENS.app);
      expect(allowed.status).toBe(201);
      expect(allowed.body).toEqual({ accepted: 5000 });

      const missing = await transfer(server, 5000, TOKENS.totp);
      expect(missing.status).toBe(STATUS_TABLE.lackingMethods.status);
      expect(missing.body).toMatchObject({ mode: 'all', missing: [HyperIdAuthenticator] });

      const noToken = await transfer(server, 5000);
      expect(noToken.status).toBe(STATUS_TABLE.noCredentials.status);
      expect(noToken.headers['www-authenticate']).toBe(STATUS_TABLE.noCredentials.wwwAuthenticate);

      expect((await transfer(server, 5000, TOKENS.unknown)).status).toBe(STATUS_TABLE.tokenInvalid.status);
    });

    it.each([['"50"'], ['-1'], ['null'], ['missing']])(
      'an amount it cannot be sure of (%s) requires 2FA',
      async (raw) => {
        const { server } = await start();
        const body = raw === 'missing' ? { to: 'savings' } : { amount: JSON.parse(raw), to: 'savings' };
        const res = await request(server as never)
          .post('/transfers')
          .set('Authorization', `Bearer ${TOKENS.totp}`)
          .send(body);
        expect(res.status).toBe(STATUS_TABLE.lackingMethods.status);
      },
    );

    it.each(['throws', 'rejects'])(
      'a condition that %s applies the requirement, and logs only the error class',
      async (route) => {
        const { server, logger } = await start();
        const refused = await request(server as never)
          .get(`/conditions/${route}`)
          .set('Authorization', `Bearer ${TOKENS.totp}`);
        expect(refused.status).toBe(STATUS_TABLE.lackingMethods.status);
        const allowed = await request(server as never)
          .get(`/conditions/${route}`)
          .set('Authorization', `Bearer ${TOKENS.app}`);
        expect(allowed.status).toBe(200);
        const errors = logger.entries.filter((entry) => entry.level === 'error');
        expect(errors.map((entry) => entry.message)).toEqual([
          expect.stringMatching(
            /^2FA condition failed \((TypeError|RangeError)\); applying the requirement$/,
          ),
          expect.stringMatching(
            /^2FA condition failed \((TypeError|RangeError)\); applying the requirement$/,
          ),
        ]);
        expect(JSON.stringify(logger.entries)).not.toContain(TOKENS.totp);
      },
    );

    it('a condition resolving to false exempts; one answering undefined does not', async () => {
      const { server } = await start();
      const calls = fake.calls();
      expect((await request(server as never).get('/conditions/async-false')).status).toBe(200);
      expect(fake.calls()).toBe(calls);
      expect((await request(server as never).get('/conditions/undefined')).status).toBe(
        STATUS_TABLE.noCredentials.status,
      );
    });
  });

  describe('report mode', () => {
    async function wouldRefuseCount(): Promise<number> {
      const { resourceMetrics } = await reader.collect();
      let count = 0;
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          if (metric.descriptor.name !== 'hyperid.guard.would_refuse') continue;
          for (const point of metric.dataPoints) count += point.value as number;
        }
      }
      return count;
    }

    async function counterPoints(): Promise<Record<string, unknown>[]> {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .filter((metric) => metric.descriptor.name === 'hyperid.guard.would_refuse')
        .flatMap((metric) => metric.dataPoints.map((point) => ({ ...point.attributes })));
    }

    it('lets a user without the method through, with exactly one record: log, counter, hook', async () => {
      const events: TwoFactorWouldRefuseEvent[] = [];
      const { server, logger } = await start({ onWouldRefuse: (event) => void events.push(event) });
      const before = await wouldRefuseCount();

      const res = await request(server as never)
        .get('/report/app')
        .set('Authorization', `Bearer ${TOKENS.totp}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ types: [Totp] });
      expect(res.headers['www-authenticate']).toBeUndefined();

      const warnings = logger.entries.filter(
        (entry) => entry.level === 'warn' && entry.message.includes('would refuse'),
      );
      expect(warnings.map((entry) => entry.message)).toEqual([
        '2FA would refuse ReportController.app: 403 missing_methods (report mode)',
      ]);
      expect((await wouldRefuseCount()) - before).toBe(1);
      expect(await counterPoints()).toContainEqual({
        'hyperid.route': 'ReportController.app',
        'hyperid.reason': 'missing_methods',
      });
      expect(events).toHaveLength(1);
      const { context, ...event } = events[0];
      expect(event).toEqual({
        route: 'ReportController.app',
        reason: 'missing_methods',
        status: 403,
        mode: 'all',
        required: [HyperIdAuthenticator],
        missing: [HyperIdAuthenticator],
      });
      expect(context.getHandler()).toBe(ReportController.prototype.app);
      expect(JSON.stringify(event)).not.toContain(TOKENS.totp);
      expect(JSON.stringify(logger.entries)).not.toContain(TOKENS.totp);
      expect(JSON.stringify(await counterPoints())).not.toContain(TOKENS.totp);
    });

    it('records nothing for a user who meets the requirement', async () => {
      const events: TwoFactorWouldRefuseEvent[] = [];
      const { server, logger } = await start({ onWouldRefuse: (event) => void events.push(event) });
      const before = await wouldRefuseCount();
      const res = await request(server as never)
        .get('/report/app')
        .set('Authorization', `Bearer ${TOKENS.app}`);
      expect(res.status).toBe(200);
      expect(events).toEqual([]);
      expect(logger.entries.filter((entry) => entry.message.includes('would refuse'))).toEqual([]);
      expect(await wouldRefuseCount()).toBe(before);
    });

    it.each([
      ['no token', undefined, 'no_token', STATUS_TABLE.noCredentials.status],
      ['a malformed token', 'a b', 'malformed_token', STATUS_TABLE.malformedToken.status],
      ['an unknown token', TOKENS.unknown, 'token_invalid', STATUS_TABLE.tokenInvalid.status],
    ])('lets %s through, recorded with its reason', async (_what, token, reason, status) => {
      const events: TwoFactorWouldRefuseEvent[] = [];
      const { server } = await start({ onWouldRefuse: (event) => void events.push(event) });
      const req = request(server as never).get('/report/app');
      const res = await (token === undefined ? req : req.set('Authorization', `Bearer ${token}`));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      expect(res.headers['www-authenticate']).toBeUndefined();
      expect(events.map(({ reason: r, status: s }) => ({ reason: r, status: s }))).toEqual([
        { reason, status },
      ]);
    });

    it("lets HyperID's failures through too, recorded as what they would have been", async () => {
      const events: TwoFactorWouldRefuseEvent[] = [];
      const { server } = await start({ onWouldRefuse: (event) => void events.push(event) });
      fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable });
      const res = await request(server as never)
        .get('/report/app')
        .set('Authorization', `Bearer ${TOKENS.app}`);
      expect(res.status).toBe(200);
      expect(res.headers['retry-after']).toBeUndefined();
      expect(events.map(({ reason, status }) => ({ reason, status }))).toEqual([
        { reason: 'unavailable', status: STATUS_TABLE.unavailable.status },
      ]);
    });

    it("the module's enforce: 'report' covers every route but the one that enforces", async () => {
      const events: TwoFactorWouldRefuseEvent[] = [];
      const { server, logger } = await start({
        enforce: 'report',
        onWouldRefuse: (event) => void events.push(event),
      });
      const as = (path: string) =>
        request(server as never)
          .get(path)
          .set('Authorization', `Bearer ${TOKENS.totp}`);
      expect((await as('/report/default')).status).toBe(200);
      expect((await as('/report/enforced')).status).toBe(STATUS_TABLE.lackingMethods.status);
      expect(events.map((event) => event.route)).toEqual(['ReportController.byDefault']);
      const startup = logger.entries.filter((entry) => entry.message.startsWith('Report mode, NOT enforced'));
      expect(startup).toHaveLength(1);
      for (const route of [
        'ReportController.app',
        'ReportController.byDefault',
        'TransfersController.create',
      ]) {
        expect(startup[0].message).toContain(route);
      }
      expect(startup[0].message).not.toContain('ReportController.enforced');
    });

    it('warns at start-up of the one route in report mode, and of nothing when none is', async () => {
      const { logger } = await start();
      const startup = logger.entries.filter((entry) => entry.message.startsWith('Report mode, NOT enforced'));
      expect(startup).toHaveLength(1);
      expect(startup[0].level).toBe('warn');
      expect(startup[0].message).toMatch(/: ReportController\.app$/);
    });

    it('a hook that throws or rejects is logged and changes nothing', async () => {
      for (const onWouldRefuse of [
        () => {
          throw new Error(`hook saw ${TOKENS.totp}`);
        },
        () => Promise.reject(new Error(`hook saw ${TOKENS.totp}`)),
      ]) {
        const { server, logger } = await start({ onWouldRefuse });
        const res = await request(server as never)
          .get('/report/app')
          .set('Authorization', `Bearer ${TOKENS.totp}`);
        expect(res.status).toBe(200);
        await new Promise((resolve) => setImmediate(resolve));
        expect(
          logger.entries.filter((entry) => entry.level === 'error').map((entry) => entry.message),
        ).toEqual(['onWouldRefuse failed (Error)']);
        expect(JSON.stringify(logger.entries)).not.toContain(TOKENS.totp);
      }
    });
  });

  describe('enrollmentUrl', () => {
    const URL_OF_APP = 'https://accounts.example.com/security/authenticator';

    it('is in the body of a missing-methods 403, and of no other answer', async () => {
      const { server } = await start({ enrollmentUrl: URL_OF_APP });
      const missing = await transfer(server, 5000, TOKENS.totp);
      expect(missing.status).toBe(403);
      expect(missing.body.enrollment_url).toBe(URL_OF_APP);
      expect(missing.headers['www-authenticate'] ?? '').not.toContain('enrollment');

      for (const res of [
        await transfer(server, 5000),
        await transfer(server, 5000, TOKENS.unknown),
        await transfer(server, 5000, 'a b'),
        await transfer(server, 5000, TOKENS.app),
      ]) {
        expect(res.body).not.toHaveProperty('enrollment_url');
      }
      fake.injectFault({ status: 500 });
      const down = await transfer(server, 5000, TOKENS.totp);
      expect(down.status).toBe(STATUS_TABLE.unavailable.status);
      expect(down.body).not.toHaveProperty('enrollment_url');
    });

    it('is in the body of the step-up 401 too', async () => {
      const { server } = await start({ enrollmentUrl: '/settings/security', stepUp: {} });
      const res = await transfer(server, 5000, TOKENS.totp);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain('insufficient_user_authentication');
      expect(res.headers['www-authenticate']).not.toContain('settings');
      expect(res.body).toMatchObject({
        missing: [HyperIdAuthenticator],
        enrollment_url: '/settings/security',
      });
    });

    it('a function gets the missing types; an answer that is not a safe URL is left out', async () => {
      const seen: unknown[] = [];
      let answer: unknown = '/settings/authenticator';
      const { server } = await start({
        enrollmentUrl: (missing) => {
          seen.push([...missing]);
          return answer as string;
        },
      });
      expect((await transfer(server, 5000, TOKENS.totp)).body.enrollment_url).toBe('/settings/authenticator');
      expect(seen).toEqual([[HyperIdAuthenticator]]);
      for (answer of ['javascript:alert(1)', '//evil.example', 42, undefined]) {
        const res = await transfer(server, 5000, TOKENS.totp);
        expect(res.status).toBe(403);
        expect(res.body).not.toHaveProperty('enrollment_url');
      }
    });
  });
});
