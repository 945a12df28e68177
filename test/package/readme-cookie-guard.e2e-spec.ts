import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { RequireTwoFactor, TwoFactorType, VerifiedTwoFactorTypes } from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import request from 'supertest';
import { DocModules } from '../support/doc-modules.js';

// The README's "Guard hooks" example (the block marked `readme-test: cookie-guard`), run as a user
// would paste it: written to a module of its own inside the repository, so that 'nestjs-hyperid'
// resolves to the built dist/ through the package's exports map, and imported by an Express app.

const modules = new DocModules('cookie-guard');

@Controller()
class AccountController {
  @Get('account')
  @RequireTwoFactor()
  account(@VerifiedTwoFactorTypes() types: TwoFactorType[]) {
    return { twoFactorTypes: types };
  }
}

describe('README cookie-guard example', () => {
  const previousApiUrl = process.env.HYPERID_API_URL;
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    const file = await modules.write('README.md', 'cookie-guard', 'app.module.ts');

    fake = await new FakeHyperIdServer({
      tokens: { good: { auth_types: [TwoFactorType.Totp] }, none: { auth_types: [] } },
    }).start();
    // The block reads HYPERID_API_URL when it is imported (its @Module decorator runs then).
    process.env.HYPERID_API_URL = fake.url;
    const { AppModule } = (await import(file)) as { AppModule: new () => object };

    const moduleRef = await Test.createTestingModule({
      imports: [AppModule],
      controllers: [AccountController],
    }).compile();
    app = await moduleRef.createNestApplication({ logger: false }).init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
    if (previousApiUrl === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = previousApiUrl;
    await modules.remove();
  });

  it('lets a request through on a good access_token cookie, among other cookies', async () => {
    const res = await request(app.getHttpServer())
      .get('/account')
      .set('Cookie', 'theme=dark; access_token=good; lang=en');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ twoFactorTypes: [TwoFactorType.Totp] });
    expect(fake.calls('good')).toBe(1);
  });

  it('answers 401 with a bare challenge without the cookie, though the Authorization header is valid', async () => {
    const calls = fake.calls();
    const res = await request(app.getHttpServer()).get('/account').set('Authorization', 'Bearer good');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="hyperid"');
    expect(fake.calls()).toBe(calls);
  });

  it('answers 400 invalid_request to a malformed cookie token, without asking HyperID', async () => {
    const calls = fake.calls();
    const res = await request(app.getHttpServer()).get('/account').set('Cookie', 'access_token=not@valid');
    expect(res.status).toBe(400);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="hyperid", error="invalid_request"');
    expect(fake.calls()).toBe(calls);
  });

  it('checks the cookie’s token, not the header’s: a user without 2FA in the cookie is refused', async () => {
    const res = await request(app.getHttpServer())
      .get('/account')
      .set('Cookie', 'access_token=none')
      .set('Authorization', 'Bearer good');
    expect(res.status).toBe(403);
    expect(res.body.missing).toEqual([
      TwoFactorType.HyperIdAuthenticator,
      TwoFactorType.Totp,
      TwoFactorType.Sms,
      TwoFactorType.AlternativeEmail,
    ]);
  });
});
