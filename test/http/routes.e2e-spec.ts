import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, createStrictApp, serverOf } from '../support/e2e-app.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';
import { jwtLike, tokenTable } from '../support/tokens.js';

// Which routes ask HyperID, and how often: every app here runs with cache: false, so each
// HyperID call shows in the fake's counters.
describe.each(ADAPTERS)('guarded routes (%s)', (adapterName, adapter) => {
  const { tokens, token } = tokenTable(`tok-routes-${adapterName}`);
  let fake: FakeHyperIdServer;

  beforeAll(async () => {
    fake = await new FakeHyperIdServer({ tokens }).start();
  });

  afterAll(async () => {
    await fake?.stop();
  });

  describe.each([
    ['decorators only', false],
    ['TwoFactorGuard also as APP_GUARD', true],
  ])('%s', (_registration, globalGuard) => {
    let app: INestApplication;
    const get = (path: string, user?: string) => {
      const req = request(serverOf(app)).get(path);
      return user === undefined ? req : req.set('Authorization', `Bearer ${user}`);
    };

    beforeAll(async () => {
      app = await createStrictApp(adapter, fake.url, {}, { globalGuard });
    });

    afterAll(async () => {
      await app?.close();
    });

    it('a route without a requirement never calls HyperID, with or without a token', async () => {
      const before = fake.calls();
      expect((await get('/routes/open')).status).toBe(200);
      const withToken = await get('/routes/open', token('none'));
      expect(withToken.status).toBe(200);
      expect(withToken.body).toEqual({ ok: true });
      expect(fake.calls()).toBe(before);
    });

    it('a route without a requirement passes even a token HyperID would reject, unasked', async () => {
      const res = await get('/routes/open', token('invalid'));
      expect(res.status).toBe(200);
      expect(fake.calls(token('invalid'))).toBe(0);
    });

    it('@TwoFactorTypes() is undefined on a route without a requirement', async () => {
      const user = token(`open-types-${globalGuard}`);
      fake.setToken(user, { auth_types: [0, 1, 2, 3] });
      const res = await get('/routes/open-types', user);
      expect(res.body).toEqual({ types: null });
      expect(fake.calls(user)).toBe(0);
    });

    it('asks HyperID exactly once per request on a guarded route', async () => {
      const user = token(`once-${globalGuard}`);
      fake.setToken(user, { auth_types: [1] });
      expect((await get('/routes/totp', user)).status).toBe(200);
      expect(fake.calls(user)).toBe(1);
      expect((await get('/routes/totp', user)).status).toBe(200);
      expect(fake.calls(user)).toBe(2);
    });

    it('asks HyperID exactly once for a refused request too', async () => {
      const user = token(`once-refused-${globalGuard}`);
      fake.setToken(user, { auth_types: [2] });
      expect((await get('/routes/totp', user)).status).toBe(STATUS_TABLE.lackingMethods.status);
      expect(fake.calls(user)).toBe(1);
    });

    it("@TwoFactorTypes() hands the user's types to the handler, unknown values included", async () => {
      const full = await get('/routes/types', token('full'));
      expect(full.status).toBe(200);
      expect(full.body).toEqual({ types: [0, 1, 2, 3] });
      const withUnknown = await get('/routes/types', token('emailAndUnknown'));
      expect(withUnknown.body).toEqual({ types: [3, 7] });
    });

    describe('class requirement (SMS) with method overrides', () => {
      it("a method without its own requirement inherits the class's", async () => {
        expect((await get('/class/inherited', token('sms'))).status).toBe(200);
        const refused = await get('/class/inherited', token('totp'));
        expect(refused.status).toBe(STATUS_TABLE.lackingMethods.status);
        expect(refused.body).toMatchObject({ mode: 'all', required: [2], missing: [2] });
      });

      it("the method's requirement overrides the class's (not added to it)", async () => {
        expect((await get('/class/overridden', token('totp'))).status).toBe(200);
        const refused = await get('/class/overridden', token('sms'));
        expect(refused.status).toBe(STATUS_TABLE.lackingMethods.status);
        expect(refused.body).toMatchObject({ mode: 'all', required: [1], missing: [1] });
      });

      it('@SkipTwoFactor() exempts a method: no token needed, no HyperID call', async () => {
        const before = fake.calls();
        const anonymous = await get('/class/skipped');
        expect(anonymous.status).toBe(200);
        expect(anonymous.headers['www-authenticate']).toBeUndefined();
        expect((await get('/class/skipped', token('none'))).status).toBe(200);
        expect(fake.calls()).toBe(before);
      });

      it('the class requirement still demands a token', async () => {
        const res = await get('/class/inherited');
        expect(res.status).toBe(STATUS_TABLE.noCredentials.status);
        expectHeader(res.headers['www-authenticate'], STATUS_TABLE.noCredentials.wwwAuthenticate);
      });
    });

    describe('JWT-shaped tokens', () => {
      it('a token whose exp has passed: 401 invalid_token without calling HyperID', async () => {
        const stale = jwtLike(Math.floor(Date.now() / 1000) - 60, `stale-${adapterName}-${globalGuard}`);
        fake.setToken(stale, { auth_types: [0, 1, 2, 3] });
        const res = await get('/routes/bare', stale);
        expect(res.status).toBe(STATUS_TABLE.tokenExpired.status);
        expectHeader(res.headers['www-authenticate'], STATUS_TABLE.tokenExpired.wwwAuthenticate);
        expect(fake.calls(stale)).toBe(0);
      });

      it('a token whose exp is ahead is asked about as usual', async () => {
        const fresh = jwtLike(Math.floor(Date.now() / 1000) + 3600, `fresh-${adapterName}-${globalGuard}`);
        fake.setToken(fresh, { auth_types: [1] });
        expect((await get('/routes/bare', fresh)).status).toBe(200);
        expect(fake.calls(fresh)).toBe(1);
      });
    });
  });

  describe('the stepUp option', () => {
    let withAcr: INestApplication;
    let plain: INestApplication;

    beforeAll(async () => {
      withAcr = await createStrictApp(adapter, fake.url, {
        stepUp: { acrValues: 'urn:hyperid:2fa', maxAgeSeconds: 300 },
      });
      plain = await createStrictApp(adapter, fake.url, { stepUp: {} });
    });

    afterAll(async () => {
      await withAcr?.close();
      await plain?.close();
    });

    it('answers a user lacking the types 401 insufficient_user_authentication with acr_values and max_age', async () => {
      const res = await request(serverOf(withAcr))
        .get('/routes/listed')
        .set('Authorization', `Bearer ${token('authenticator')}`);
      expect(res.status).toBe(STATUS_TABLE.stepUp.status);
      expect(res.headers['www-authenticate']).toMatch(
        /^Bearer realm="hyperid", error="insufficient_user_authentication", error_description="[^"]+", acr_values="urn:hyperid:2fa", max_age="300"$/,
      );
      expect(res.body).toEqual({
        statusCode: 401,
        message: expect.any(String),
        error: 'Unauthorized',
        mode: 'all',
        required: [0, 3],
        missing: [3],
      });
    });

    it('leaves acr_values out when none is configured', async () => {
      const res = await request(serverOf(plain))
        .get('/routes/bare')
        .set('Authorization', `Bearer ${token('none')}`);
      expect(res.status).toBe(STATUS_TABLE.stepUp.status);
      expect(res.headers['www-authenticate']).toMatch(
        /^Bearer realm="hyperid", error="insufficient_user_authentication", error_description="[^"]+"$/,
      );
      expect(res.body).toMatchObject({ mode: 'any', required: [0, 1, 2, 3], missing: [0, 1, 2, 3] });
    });

    it('changes nothing for a user who has the types, nor for the other answers', async () => {
      const server = serverOf(withAcr);
      expect(
        (
          await request(server)
            .get('/routes/listed')
            .set('Authorization', `Bearer ${token('full')}`)
        ).status,
      ).toBe(200);
      const scope = await request(server)
        .get('/routes/listed')
        .set('Authorization', `Bearer ${token('denied')}`);
      expect(scope.status).toBe(STATUS_TABLE.accessDenied.status);
      expectHeader(scope.headers['www-authenticate'], STATUS_TABLE.accessDenied.wwwAuthenticate);
      const missing = await request(server).get('/routes/listed');
      expect(missing.status).toBe(STATUS_TABLE.noCredentials.status);
      expectHeader(missing.headers['www-authenticate'], STATUS_TABLE.noCredentials.wwwAuthenticate);
    });
  });
});
