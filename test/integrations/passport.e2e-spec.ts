import 'reflect-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Controller, Get, Req, UseGuards, type INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { AuthGuard } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import {
  HyperIdModule,
  HyperIdResult,
  RequireTwoFactor,
  TwoFactorType,
  TwoFactorTypes,
} from '../../lib/index.js';
import {
  HyperIdAuthGuard,
  HyperIdPassportModule,
  type HyperIdPassportUser,
} from '../../lib/passport/index.js';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

const {
  noCredentials,
  malformedToken,
  tokenInvalid,
  accessDenied,
  lackingMethods,
  unavailable,
  badUpstream,
} = STATUS_TABLE;

type Platform = 'express' | 'fastify';

function controllersFor(platform: Platform) {
  // Plain AuthGuard('hyperid') on Express; HyperIdAuthGuard (headers through the adapter) on Fastify.
  const Guard = platform === 'express' ? AuthGuard('hyperid') : HyperIdAuthGuard;

  @Controller('class')
  @UseGuards(Guard)
  class ClassGuardedController {
    @Get('totp')
    @RequireTwoFactor(TwoFactorType.Totp)
    totp(@Req() req: { user: HyperIdPassportUser }, @TwoFactorTypes() types: TwoFactorType[]) {
      return { user: req.user.twoFactorTypes, hasToken: req.user.accessToken.length > 0, types };
    }

    @Get('any')
    any(@Req() req: { user: HyperIdPassportUser }) {
      return { user: req.user.twoFactorTypes };
    }

    // What careless handlers do: send the user back, spread it, or log it.
    @Get('whole-user')
    wholeUser(@Req() req: { user: HyperIdPassportUser }) {
      return { user: req.user, spread: { ...req.user }, keys: Object.keys(req.user) };
    }
  }

  @Controller('method')
  class MethodGuardedController {
    // Stacked decorators register guards bottom-up: the passport guard runs first here...
    @Get('auth-first')
    @RequireTwoFactor(TwoFactorType.Totp)
    @UseGuards(Guard)
    authFirst(@Req() req: { user: HyperIdPassportUser }) {
      return { user: req.user.twoFactorTypes };
    }

    // ...and TwoFactorGuard first here (the strategy reuses its answer): one HyperID lookup either way.
    @Get('two-factor-first')
    @UseGuards(Guard)
    @RequireTwoFactor(TwoFactorType.Totp)
    twoFactorFirst(@Req() req: { user: HyperIdPassportUser }) {
      return { user: req.user.twoFactorTypes };
    }
  }
  return [ClassGuardedController, MethodGuardedController];
}

describe.each<Platform>(['express', 'fastify'])('passport strategy "hyperid" on %s', (platform) => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({
      tokens: {
        good: { auth_types: [1, 3] },
        plain: { auth_types: [3] },
        denied: { result: HyperIdResult.AccessDenied },
      },
    }).start();
    const moduleRef = await Test.createTestingModule({
      imports: [
        HyperIdModule.forRoot({
          apiUrl: fake.url,
          cache: false,
          retries: 0,
          circuitBreaker: false,
          isGlobal: true,
        }),
        HyperIdPassportModule,
      ],
      controllers: controllersFor(platform),
    }).compile();
    app =
      platform === 'express'
        ? moduleRef.createNestApplication({ logger: false })
        : moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), { logger: false });
    await app.init();
    if (platform === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  beforeEach(() => {
    fake.clearFaults();
    fake.resetCalls();
  });

  const get = (path: string, authorization?: string) => {
    const req = request(app.getHttpServer()).get(path);
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  it.each(['/class/totp', '/method/auth-first', '/method/two-factor-first'])(
    '%s: yields the user and makes ONE HyperID call per request (cache off)',
    async (path) => {
      const first = await get(path, 'Bearer good');
      expect(first.status).toBe(200);
      expect(first.body.user).toEqual([1, 3]);
      expect(fake.calls('good')).toBe(1);
      await get(path, 'Bearer good');
      expect(fake.calls('good')).toBe(2);
    },
  );

  it('hands the same types to @TwoFactorTypes() and keeps the token on the user', async () => {
    const res = await get('/class/totp', 'Bearer good');
    expect(res.body).toEqual({ user: [1, 3], hasToken: true, types: [1, 3] });
  });

  it('never serialises the token: returning, spreading or listing the user leaves it out', async () => {
    const res = await get('/class/whole-user', 'Bearer good');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      user: { twoFactorTypes: [1, 3] },
      spread: { twoFactorTypes: [1, 3] },
      keys: ['twoFactorTypes'],
    });
    expect(res.text).not.toContain('good');
  });

  it('authenticates a route without a 2FA requirement with one call', async () => {
    const res = await get('/class/any', 'Bearer plain');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: [3] });
    expect(fake.calls()).toBe(1);
  });

  it('still enforces the 2FA requirement after passport accepted the token', async () => {
    const res = await get('/class/totp', 'Bearer plain');
    expect(res.status).toBe(lackingMethods.status);
    expect(res.body).toMatchObject({ mode: 'all', missing: [1] });
    expect(fake.calls()).toBe(1);
  });

  it('answers an unknown token 401 invalid_token, like TwoFactorGuard', async () => {
    const res = await get('/class/any', 'Bearer nobody');
    expect(res.status).toBe(tokenInvalid.status);
    expectHeader(res.headers['www-authenticate'], tokenInvalid.wwwAuthenticate);
    expect(res.headers['www-authenticate']).toContain(`error_description="${tokenInvalid.message}"`);
    expect(JSON.stringify(res.body)).not.toContain('nobody');
  });

  it('answers a missing header 401 with a bare challenge, without calling HyperID', async () => {
    const res = await get('/class/any');
    expect(res.status).toBe(noCredentials.status);
    expectHeader(res.headers['www-authenticate'], noCredentials.wwwAuthenticate);
    expect(fake.calls()).toBe(0);
  });

  it('answers a malformed token 400 invalid_request, without calling HyperID', async () => {
    const res = await get('/class/any', 'Bearer a b');
    expect(res.status).toBe(malformedToken.status);
    expectHeader(res.headers['www-authenticate'], malformedToken.wwwAuthenticate);
    expect(fake.calls()).toBe(0);
  });

  it('answers access denied 403 insufficient_scope', async () => {
    const res = await get('/class/any', 'Bearer denied');
    expect(res.status).toBe(accessDenied.status);
    expectHeader(res.headers['www-authenticate'], accessDenied.wwwAuthenticate);
  });

  it('answers an unavailable HyperID 503 with Retry-After', async () => {
    fake.injectFault({ status: 503 });
    const res = await get('/class/any', 'Bearer good');
    expect(res.status).toBe(unavailable.status);
    expect(res.headers['retry-after']).toBe(unavailable.defaultRetryAfter);
  });

  it('answers a malformed HyperID answer 502', async () => {
    fake.injectFault({ malformed: true });
    const res = await get('/class/any', 'Bearer good');
    expect(res.status).toBe(badUpstream.status);
  });
});
