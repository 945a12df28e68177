import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HyperIdModule, RequireTwoFactor, TwoFactorType, TwoFactorTypes } from '../../lib/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

@Controller()
class SmokeController {
  @Get('open')
  open() {
    return { ok: true };
  }

  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp(@TwoFactorTypes() types: TwoFactorType[]) {
    return { types };
  }
}

describe('smoke', () => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: { good: { auth_types: [1, 3] }, none: { auth_types: [] } },
    }).start();
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdModule.forRoot({ apiUrl: fake.url, isGlobal: true })],
      controllers: [SmokeController],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  afterAll(async () => {
    await app.close();
    await fake.stop();
  });

  it('passes a user with the required method and hands the types to the route', async () => {
    const res = await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer good');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ types: [1, 3] });
  });

  it('refuses a user without it', async () => {
    const res = await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer none');
    expect(res.status).toBe(STATUS_TABLE.lackingMethods.status);
    expect(res.body).toMatchObject({ mode: 'all', required: [1], missing: [1] });
  });

  it('answers 401 with a challenge without a token', async () => {
    const res = await request(app.getHttpServer()).get('/totp');
    expect(res.status).toBe(STATUS_TABLE.noCredentials.status);
    expectHeader(res.headers['www-authenticate'], STATUS_TABLE.noCredentials.wwwAuthenticate);
    expect(fake.calls()).toBe(2);
  });
});
