import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  HyperIdModule,
  type HyperIdModuleOptions,
  RequireTwoFactor,
  TwoFactorType,
} from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

@Controller()
class StepUpController {
  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp() {
    return { ok: true };
  }

  @Get('any')
  @RequireTwoFactor({ anyOf: [TwoFactorType.Totp, TwoFactorType.Sms] })
  any() {
    return { ok: true };
  }
}

type Platform = 'express' | 'fastify';

describe.each<Platform>(['express', 'fastify'])('step-up answers (RFC 9470) on %s', (platform) => {
  let fake: FakeHyperIdServer;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: { weak: { auth_types: [3] }, strong: { auth_types: [1, 3] } },
    }).start();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await fake?.stop();
  });

  async function server(stepUp: HyperIdModuleOptions['stepUp']) {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, stepUp })],
      controllers: [StepUpController],
    }).compile();
    const app =
      platform === 'express'
        ? moduleRef.createNestApplication({ logger: false })
        : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    apps.push(app);
    await app.init();
    if (platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    return app.getHttpServer();
  }

  it('answers 403 without a challenge by default', async () => {
    const res = await request(await server(undefined))
      .get('/totp')
      .set('Authorization', 'Bearer weak');
    const { status, error, wwwAuthenticate } = STATUS_TABLE.lackingMethods;
    expect(res.status).toBe(status);
    expectHeader(res.headers['www-authenticate'], wwwAuthenticate);
    expect(res.body).toMatchObject({ statusCode: status, error, mode: 'all', missing: [1] });
  });

  it('answers 401 insufficient_user_authentication with acr_values and max_age when set', async () => {
    const http = await server({ acrValues: 'urn:hyperid:2fa', maxAgeSeconds: 300 });
    const res = await request(http).get('/any').set('Authorization', 'Bearer weak');
    const { status, error } = STATUS_TABLE.stepUp;
    expect(res.status).toBe(status);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="hyperid", error="insufficient_user_authentication", ' +
        'error_description="Two-factor authentication with the required methods is needed", ' +
        'acr_values="urn:hyperid:2fa", max_age="300"',
    );
    expect(res.body).toMatchObject({
      statusCode: status,
      error,
      mode: 'any',
      required: [1, 2],
      missing: [1, 2],
    });
    expect((await request(http).get('/any').set('Authorization', 'Bearer strong')).status).toBe(200);
  });

  it('omits acr_values and max_age when not set', async () => {
    const res = await request(await server({}))
      .get('/totp')
      .set('Authorization', 'Bearer weak');
    expect(res.status).toBe(STATUS_TABLE.stepUp.status);
    expectHeader(res.headers['www-authenticate'], STATUS_TABLE.stepUp.wwwAuthenticate);
    expect(res.headers['www-authenticate']).not.toMatch(/acr_values|max_age/);
  });
});
