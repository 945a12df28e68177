// account.controller.e2e-spec.ts
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HyperIdResult, RequireTwoFactor, TwoFactorType, TwoFactorTypes } from 'nestjs-hyperid';
import { HyperIdTestingController, HyperIdTestingModule } from 'nestjs-hyperid/testing';

// In your app this controller lives in its own file.
@Controller('account')
class AccountController {
  @Get('payouts')
  @RequireTwoFactor(TwoFactorType.Totp)
  payouts(@TwoFactorTypes() methods: TwoFactorType[]) {
    return { methods };
  }
}

describe('AccountController', () => {
  let app: INestApplication;
  let hyperid: HyperIdTestingController;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [
        HyperIdTestingModule.forRoot({
          tokens: {
            'token-a': [TwoFactorType.Totp],
            'token-b': [TwoFactorType.AlternativeEmail],
            'token-x': HyperIdResult.TokenExpired,
          },
        }),
      ],
      controllers: [AccountController],
    }).compile();
    app = moduleRef.createNestApplication();
    await app.init();
    hyperid = app.get(HyperIdTestingController);
  });

  afterAll(() => app.close());

  it('lets a user with TOTP in', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/payouts')
      .set('Authorization', 'Bearer token-a');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ methods: [TwoFactorType.Totp] });
  });

  it('refuses a user without TOTP, naming what is missing', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/payouts')
      .set('Authorization', 'Bearer token-b');
    expect(res.status).toBe(403);
    expect(res.body.missing).toEqual([TwoFactorType.Totp]);
  });

  it('answers an expired token 401', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/payouts')
      .set('Authorization', 'Bearer token-x');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('follows answer changes at run time and counts lookups', async () => {
    hyperid.setToken('token-b', [TwoFactorType.AlternativeEmail, TwoFactorType.Totp]);
    const res = await request(app.getHttpServer())
      .get('/account/payouts')
      .set('Authorization', 'Bearer token-b');
    expect(res.status).toBe(200);
    expect(hyperid.calls('token-b')).toBe(2);
  });
});
