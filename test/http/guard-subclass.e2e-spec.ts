import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Injectable, type ExecutionContext, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import { TwoFactorGuard, TwoFactorType } from '../../lib/index.js';
import { HyperIdTestingController, HyperIdTestingModule } from '../../lib/testing/index.js';
import { ADAPTERS, createE2eApp, serverOf } from '../support/e2e-app.js';

// An app's subclass of TwoFactorGuard registered as APP_GUARD (README: Guard hooks). It runs
// before the TwoFactorGuard that @RequireTwoFactor() applies, and that one must not judge the same
// call again its own way: a cookie-only request would otherwise be refused for want of a header.

/** Reads the token from an `access_token` cookie only. */
@Injectable()
class CookieTwoFactorGuard extends TwoFactorGuard {
  protected override getToken(context: ExecutionContext): string | undefined {
    const cookie = this.getExchange(context)?.request.headers?.cookie;
    if (typeof cookie !== 'string') return undefined;
    const pair = cookie.split(';').find((part) => part.trim().startsWith('access_token='));
    return pair?.trim().slice('access_token='.length);
  }
}

/** Lets requests carrying `x-internal-probe: 1` through without a check. */
@Injectable()
class ProbeSkippingGuard extends TwoFactorGuard {
  protected override shouldSkip(context: ExecutionContext): boolean {
    return this.getExchange(context)?.request.headers?.['x-internal-probe'] === '1';
  }
}

const TOKENS = { 'token-totp': [TwoFactorType.Totp], 'token-none': [] };

describe.each(ADAPTERS)('a TwoFactorGuard subclass as APP_GUARD (%s)', (_name, adapter) => {
  let cookies: INestApplication;
  let probes: INestApplication;

  beforeAll(async () => {
    cookies = await createE2eApp({
      adapter,
      hyperId: HyperIdTestingModule.forRoot({ tokens: TOKENS, isGlobal: true }),
      providers: [{ provide: APP_GUARD, useClass: CookieTwoFactorGuard }],
    });
    probes = await createE2eApp({
      adapter,
      hyperId: HyperIdTestingModule.forRoot({ tokens: TOKENS, isGlobal: true }),
      providers: [{ provide: APP_GUARD, useClass: ProbeSkippingGuard }],
    });
  });

  afterAll(async () => {
    await cookies?.close();
    await probes?.close();
  });

  it('getToken(): a cookie-only request passes, with one lookup', async () => {
    const controller = cookies.get(HyperIdTestingController);
    controller.resetCalls();
    const res = await request(serverOf(cookies))
      .get('/routes/totp')
      .set('Cookie', 'theme=dark; access_token=token-totp');
    expect(res.status).toBe(200);
    expect(controller.calls()).toBe(1);
  });

  it('getToken(): the Authorization header alone no longer counts', async () => {
    const res = await request(serverOf(cookies))
      .get('/routes/totp')
      .set('Authorization', 'Bearer token-totp');
    expect(res.status).toBe(401);
  });

  it('getToken(): the cookie user still needs the route’s methods', async () => {
    const res = await request(serverOf(cookies)).get('/routes/totp').set('Cookie', 'access_token=token-none');
    expect(res.status).toBe(403);
  });

  it('shouldSkip(): a skipped request passes without a token or a lookup; others are checked', async () => {
    const controller = probes.get(HyperIdTestingController);
    controller.resetCalls();
    expect((await request(serverOf(probes)).get('/routes/totp').set('x-internal-probe', '1')).status).toBe(
      200,
    );
    expect(controller.calls()).toBe(0);
    expect((await request(serverOf(probes)).get('/routes/totp')).status).toBe(401);
    expect((await request(serverOf(probes)).get('/routes/totp').set('x-internal-probe', '0')).status).toBe(
      401,
    );
  });
});
