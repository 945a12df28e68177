import 'reflect-metadata';
import { afterEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { HyperIdModule } from '../hyperid.module.js';
import { HyperIdResult } from '../hyperid-result.enum.js';
import { HyperIdTokenExpiredError, HyperIdTokenInvalidError } from '../errors/hyperid.errors.js';
import { RequireTwoFactor } from '../require-two-factor.decorator.js';
import { TwoFactorType } from '../two-factor-type.enum.js';
import { VerifiedTwoFactorTypes } from '../verified-two-factor-types.decorator.js';
import { TwoFactorService } from '../two-factor.service.js';
import { HyperIdTestingModule } from './hyperid-testing.module.js';
import { HyperIdTestingController } from './in-memory-hyperid.client.js';

@Controller()
class AccountController {
  @Get('totp')
  @RequireTwoFactor(TwoFactorType.Totp)
  totp(@VerifiedTwoFactorTypes() types: TwoFactorType[]) {
    return { types };
  }
}

// overrideModule() matches the very object the app imports, so the app keeps it in a constant.
const hyperIdImport = HyperIdModule.forRoot({ apiUrl: 'http://127.0.0.1:9' });

@Module({
  imports: [hyperIdImport],
  controllers: [AccountController],
})
class AppModule {}

const tokens = {
  'token-a': [TwoFactorType.Totp, 99],
  'token-n': [],
  'token-x': HyperIdResult.TokenExpired,
  'token-u': HyperIdResult.ServiceTemporarilyUnavailable,
};

describe('HyperIdTestingModule', () => {
  let app: INestApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  async function start(imports: unknown[]): Promise<INestApplication> {
    const moduleRef = await Test.createTestingModule({
      imports: imports as never[],
      controllers: [AccountController],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    return app;
  }

  it('answers TwoFactorService from the token table, with the errors of the real client', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdTestingModule.forRoot({ tokens })],
    }).compile();
    const service = moduleRef.get(TwoFactorService);
    await expect(service.getAvailableTypes('token-a')).resolves.toEqual({ result: 0, auth_types: [1, 99] });
    await expect(service.getAvailableTypes('token-x')).rejects.toBeInstanceOf(HyperIdTokenExpiredError);
    await expect(service.getAvailableTypes('unknown')).rejects.toBeInstanceOf(HyperIdTokenInvalidError);
    expect(moduleRef.get(HyperIdTestingController).calls()).toBe(3);
  });

  it('runs the real guard: 200, 403, 401 invalid_token, 503 and 401 without a token', async () => {
    const server = (await start([HyperIdTestingModule.forRoot({ tokens })])).getHttpServer();
    const ok = await request(server).get('/totp').set('Authorization', 'Bearer token-a');
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ types: [1, 99] });

    const missing = await request(server).get('/totp').set('Authorization', 'Bearer token-n');
    expect(missing.status).toBe(403);
    expect(missing.body).toMatchObject({ mode: 'all', required: [1], missing: [1] });

    const expired = await request(server).get('/totp').set('Authorization', 'Bearer token-x');
    expect(expired.status).toBe(401);
    expect(expired.headers['www-authenticate']).toContain('error="invalid_token"');

    const down = await request(server).get('/totp').set('Authorization', 'Bearer token-u');
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toBe('1');

    const anonymous = await request(server).get('/totp');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="hyperid"');
  });

  it('changes answers at run time and counts every request (nothing cached)', async () => {
    const started = await start([HyperIdTestingModule.forRoot({ tokens })]);
    const hyperid = started.get(HyperIdTestingController);
    const server = started.getHttpServer();
    expect((await request(server).get('/totp').set('Authorization', 'Bearer token-n')).status).toBe(403);
    hyperid.setToken('token-n', [TwoFactorType.Totp]);
    expect((await request(server).get('/totp').set('Authorization', 'Bearer token-n')).status).toBe(200);
    hyperid.removeToken('token-n');
    expect((await request(server).get('/totp').set('Authorization', 'Bearer token-n')).status).toBe(401);
    expect(hyperid.calls('token-n')).toBe(3);
    expect(hyperid.calls('token-a')).toBe(0);
    hyperid.resetCalls();
    expect(hyperid.calls()).toBe(0);
  });

  it('refuses a "success" code without methods', () => {
    const hyperid = new HyperIdTestingController();
    expect(() => hyperid.setToken('t', HyperIdResult.Success)).toThrow(TypeError);
  });

  it('keeps state per compiled module', async () => {
    const testing = HyperIdTestingModule.forRoot({ tokens });
    const first = await Test.createTestingModule({ imports: [testing] }).compile();
    const second = await Test.createTestingModule({ imports: [testing] }).compile();
    first.get(HyperIdTestingController).setToken('token-a', HyperIdResult.TokenInvalid);
    await expect(second.get(TwoFactorService).getAvailableTypes('token-a')).resolves.toMatchObject({
      auth_types: [1, 99],
    });
  });

  it('is global with isGlobal: a feature module sees TwoFactorService without importing it', async () => {
    @Module({ controllers: [AccountController] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [HyperIdTestingModule.forRoot({ tokens, isGlobal: true }), FeatureModule],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    expect(
      (await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer token-a')).status,
    ).toBe(200);
  });

  it('passes stepUp through to the guard', async () => {
    const server = (
      await start([HyperIdTestingModule.forRoot({ tokens, stepUp: { acrValues: 'urn:test' } })])
    ).getHttpServer();
    const res = await request(server).get('/totp').set('Authorization', 'Bearer token-n');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('acr_values="urn:test"');
  });

  it('replaces HyperIdModule in an app module through overrideModule, with no network', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(hyperIdImport)
      .useModule(HyperIdTestingModule.forRoot({ tokens }))
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    const res = await request(app.getHttpServer()).get('/totp').set('Authorization', 'Bearer token-a');
    expect(res.status).toBe(200);
    expect(app.get(HyperIdTestingController).calls('token-a')).toBe(1);
  });

  describe('a slow HyperID: hold() and release()', () => {
    it('keeps the picked lookups in flight until release(), and counts them', async () => {
      const controller = new HyperIdTestingController(tokens).hold((token) => token === 'token-a');
      let settled = false;
      const held = controller.lookUp('token-a').then((dto) => ((settled = true), dto));
      await expect(controller.lookUp('token-n')).resolves.toMatchObject({ auth_types: [] });
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false);
      expect(controller.held).toBe(1);
      expect(controller.calls('token-a')).toBe(0);
      controller.release();
      await expect(held).resolves.toMatchObject({ auth_types: [TwoFactorType.Totp, 99] });
      expect(controller.calls('token-a')).toBe(1);
    });

    it('holds a guarded request until release(), then answers it', async () => {
      const server = (await start([HyperIdTestingModule.forRoot({ tokens })])).getHttpServer();
      const controller = app!.get(HyperIdTestingController).hold();
      let answered = false;
      const pending = request(server)
        .get('/totp')
        .set('Authorization', 'Bearer token-a')
        .then((res) => ((answered = true), res));
      while (controller.held === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      expect(answered).toBe(false);
      controller.release();
      expect((await pending).status).toBe(200);
      expect(controller.held).toBe(1);
    });

    it('a second hold() lets the lookups of the first one go, and counts from zero', async () => {
      const controller = new HyperIdTestingController(tokens).hold();
      const first = controller.lookUp('token-a');
      controller.hold(() => false);
      expect(controller.held).toBe(0);
      await expect(first).resolves.toMatchObject({ result: HyperIdResult.Success });
    });
  });
});
