import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HyperIdHealthIndicator } from '../../lib/hyperid.health.js';
import {
  HyperIdModule,
  type HyperIdModuleOptions,
  HyperIdResult,
  RequireTwoFactor,
} from '../../lib/index.js';
import { FakeHyperIdServer, HyperIdTestingModule } from '../../lib/testing/index.js';
import { STATUS_TABLE } from '../support/status-table.js';

@Controller()
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly hyperid: HyperIdHealthIndicator,
  ) {}

  @Get('health')
  @HealthCheck()
  check() {
    return this.health.check([() => this.hyperid.isHealthy('hyperid')]);
  }

  @Get('guarded')
  @RequireTwoFactor()
  guarded() {
    return { ok: true };
  }
}

async function startApp(hyperIdModule: ReturnType<typeof HyperIdModule.forRoot>): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [TerminusModule.forRoot({ logger: false }), hyperIdModule],
    controllers: [HealthController],
    providers: [HyperIdHealthIndicator],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

describe('HyperIdHealthIndicator with @nestjs/terminus', () => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;
  const options: HyperIdModuleOptions = {
    retries: 0,
    circuitBreaker: { threshold: 1, halfOpenAfterMs: 60_000 },
  };

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens: { good: { auth_types: [1] } } }).start();
    app = await startApp(HyperIdModule.forRoot({ ...options, apiUrl: fake.url }));
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  beforeEach(() => {
    fake.clearFaults();
    fake.resetCalls();
  });

  it('reports up against the fake HyperID, probing without any token', async () => {
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: 'ok',
      info: { hyperid: { status: 'up', reachable: true, circuit: 'closed' } },
    });
    expect(fake.calls()).toBe(1);
    expect(fake.requests[0].path).toBe('/2fa/types/get');
    expect(fake.requests[0].headers.authorization).toBeUndefined();
  });

  it('reports down when HyperID answers 5xx or service temporarily unavailable', async () => {
    fake.injectFault({ status: 502 });
    const gateway = await request(app.getHttpServer()).get('/health');
    expect(gateway.status).toBe(503);
    expect(gateway.body.error.hyperid).toMatchObject({ status: 'down', reachable: false });
    fake.injectFault({ result: HyperIdResult.ServiceTemporarilyUnavailable });
    const unavailable = await request(app.getHttpServer()).get('/health');
    expect(unavailable.status).toBe(503);
    expect(unavailable.body.error.hyperid).toMatchObject({ status: 'down', reachable: false });
  });

  it('reports down when HyperID answers something that is not JSON', async () => {
    fake.injectFault({ body: '<html>maintenance</html>' });
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(503);
    expect(res.body.error.hyperid).toMatchObject({ status: 'down', reachable: false });
  });

  it('reports the open circuit as down, though HyperID answers again', async () => {
    fake.injectFault({ status: 500 }, 'good');
    expect(
      (await request(app.getHttpServer()).get('/guarded').set('Authorization', 'Bearer good')).status,
    ).toBe(STATUS_TABLE.unavailable.status);
    fake.clearFaults();
    const res = await request(app.getHttpServer()).get('/health');
    expect(res.status).toBe(503);
    expect(res.body.error.hyperid).toMatchObject({ status: 'down', reachable: true, circuit: 'open' });
    // The probe does not go through the breaker: guarded routes still answer 503 at once.
    expect(
      (await request(app.getHttpServer()).get('/guarded').set('Authorization', 'Bearer good')).status,
    ).toBe(STATUS_TABLE.unavailable.status);
    expect(fake.calls('good')).toBe(1);
  });
});

describe('HyperIdHealthIndicator when HyperID is stopped', () => {
  it('reports up, then down once the fake HyperID stops', async () => {
    const fake = await new FakeHyperIdServer().start();
    const app = await startApp(HyperIdModule.forRoot({ apiUrl: fake.url, retries: 0 }));
    try {
      const up = await request(app.getHttpServer()).get('/health');
      expect(up.status).toBe(200);
      expect(up.body.info.hyperid).toEqual({ status: 'up', reachable: true, circuit: 'closed' });
      await fake.stop();
      const down = await request(app.getHttpServer()).get('/health');
      expect(down.status).toBe(503);
      expect(down.body.status).toBe('error');
      expect(down.body.error.hyperid).toMatchObject({ status: 'down', reachable: false, circuit: 'closed' });
      expect(down.body.error.hyperid.message).toMatch(/could not be reached/);
    } finally {
      await app.close();
      await fake.stop();
    }
  });
});

describe('HyperIdHealthIndicator with HyperIdTestingModule', () => {
  it('reports up with the breaker disabled, with no network', async () => {
    const app = await startApp(HyperIdTestingModule.forRoot());
    try {
      const indicator = app.get(HyperIdHealthIndicator);
      await expect(indicator.isHealthy('idp')).resolves.toEqual({
        idp: { status: 'up', reachable: true, circuit: 'disabled' },
      });
    } finally {
      await app.close();
    }
  });

  it('says what is missing when no HyperID module is in the app', async () => {
    const moduleRef = await Test.createTestingModule({ providers: [HyperIdHealthIndicator] }).compile();
    await expect(moduleRef.get(HyperIdHealthIndicator).isHealthy()).rejects.toThrow(/needs HyperIdModule/);
  });
});
