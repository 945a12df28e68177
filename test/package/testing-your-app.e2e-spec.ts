// account.controller.e2e-spec.ts
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HyperIdResult, RequireTwoFactor, TwoFactorType } from 'nestjs-hyperid';
import { HyperIdTestingController, HyperIdTestingModule } from 'nestjs-hyperid/testing';

@Controller() // in your app, a controller in its own file
class PayoutsController {
  @Get('payouts') @RequireTwoFactor(TwoFactorType.Totp) list() {}
}

let app: INestApplication;
beforeAll(async () => {
  const tokens = { 'token-a': [TwoFactorType.Sms], 'token-x': HyperIdResult.TokenExpired };
  const moduleRef = await Test.createTestingModule({
    imports: [HyperIdTestingModule.forRoot({ tokens })],
    controllers: [PayoutsController],
  }).compile();
  app = await moduleRef.createNestApplication().init();
});
afterAll(() => app.close());

it('follows answer changes and counts lookups', async () => {
  const payouts = (token: string) =>
    request(app.getHttpServer()).get('/payouts').auth(token, { type: 'bearer' });
  expect((await payouts('token-x')).status).toBe(401);
  expect((await payouts('token-a')).body.missing).toEqual([TwoFactorType.Totp]);
  app.get(HyperIdTestingController).setToken('token-a', [TwoFactorType.Sms, TwoFactorType.Totp]);
  expect((await payouts('token-a')).status).toBe(200);
  expect(app.get(HyperIdTestingController).calls('token-a')).toBe(2);
});
