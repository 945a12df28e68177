import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { FakeHyperIdServer } from '../../lib/testing/index.js';
import { ADAPTERS, createStrictApp, serverOf } from '../support/e2e-app.js';
import { STATUS_TABLE, errorBody, expectAnswer, expectHeader } from '../support/status-table.js';
import { tokenTable } from '../support/tokens.js';

const {
  noCredentials,
  malformedToken,
  tokenInvalid,
  accessDenied,
  lackingMethods,
  unavailable,
  badUpstream,
} = STATUS_TABLE;
const ALL_TYPES = [0, 1, 2, 3];

// README "Errors and status codes", row by row, on both adapters with identical expectations.
describe.each(ADAPTERS)(
  'answers of a guarded route, as the status table says (%s)',
  (adapterName, adapter) => {
    const { tokens, token } = tokenTable(`tok-status-${adapterName}`);
    let fake: FakeHyperIdServer;
    let app: INestApplication;

    const get = (path: string, authorization?: string) => {
      const req = request(serverOf(app)).get(path);
      return authorization === undefined ? req : req.set('Authorization', authorization);
    };

    beforeAll(async () => {
      fake = await new FakeHyperIdServer({ tokens }).start();
      app = await createStrictApp(adapter, fake.url);
    });

    afterEach(() => {
      fake.clearFaults();
    });

    afterAll(async () => {
      await app?.close();
      await fake?.stop();
    });

    describe('401 without bearer credentials', () => {
      it.each([
        ['no Authorization header', undefined],
        ['Basic scheme', 'Basic dXNlcjpwYXNz'],
        ['Digest scheme', 'Digest username="u"'],
        ['a token without a scheme', token('full')],
      ])('%s: 401 with a bare challenge and no HyperID call', async (_case, authorization) => {
        const before = fake.calls();
        const res = await get('/routes/totp', authorization);
        expect(res.status).toBe(noCredentials.status);
        expectHeader(res.headers['www-authenticate'], noCredentials.wwwAuthenticate);
        expect(res.body).toEqual(errorBody(noCredentials));
        expect(fake.calls()).toBe(before);
      });
      it('never reads a token from the query string or the body (RFC 6750 §2.1 only)', async () => {
        const user = token('totp');
        const before = fake.calls();
        const query = await get(`/routes/totp?access_token=${user}`);
        const form = await request(serverOf(app))
          .get('/routes/totp')
          .type('form')
          .send(`access_token=${user}`);
        for (const res of [query, form]) {
          expect(res.status).toBe(noCredentials.status);
          expectHeader(res.headers['www-authenticate'], noCredentials.wwwAuthenticate);
        }
        expect(fake.calls()).toBe(before);
      });
    });

    describe('400 invalid_request for a malformed bearer token', () => {
      it.each([
        ['Bearer with no token', 'Bearer'],
        ['two tokens', 'Bearer abc def'],
        ['a comma (outside b64token)', 'Bearer abc,def'],
        ['"=" inside the token', 'Bearer abc=def'],
        ['a quote', 'Bearer "abc"'],
        ['a token over 8 KiB', `Bearer ${'A'.repeat(8 * 1024 + 1)}`],
      ])('%s: 400 invalid_request and HyperID is not called', async (_case, authorization) => {
        const before = fake.calls();
        const res = await get('/routes/totp', authorization);
        expect(res.status).toBe(malformedToken.status);
        expectHeader(res.headers['www-authenticate'], malformedToken.wwwAuthenticate);
        expect(res.body).toEqual(errorBody(malformedToken));
        expect(fake.calls()).toBe(before);
      });

      it('accepts a token of exactly 8 KiB and asks HyperID about it', async () => {
        const longToken = 'B'.repeat(8 * 1024);
        const res = await get('/routes/totp', `Bearer ${longToken}`);
        // Unknown to the fake: answered TokenInvalid, so HyperID was asked.
        expect(res.status).toBe(tokenInvalid.status);
        expect(fake.calls(longToken)).toBe(1);
      });

      it('accepts b64token punctuation and trailing "=" padding', async () => {
        const odd = 'tok-status-Az09-._~+/==';
        fake.setToken(odd, { auth_types: [1] });
        const res = await get('/routes/totp', `Bearer ${odd}`);
        expect(res.status).toBe(200);
        expect(fake.calls(odd)).toBe(1);
      });

      it('reads the scheme case-insensitively (RFC 7235)', async () => {
        const res = await get('/routes/totp', `bearer ${token('totp')}`);
        expect(res.status).toBe(200);
      });
    });

    describe('HyperID rejects the token', () => {
      it.each([
        ['token invalid', 'invalid', STATUS_TABLE.tokenInvalid],
        ['token expired', 'expired', STATUS_TABLE.tokenExpired],
        ['a token HyperID does not know (token invalid)', 'never-registered', STATUS_TABLE.tokenInvalid],
      ])('%s: 401 invalid_token with an error_description', async (_case, user, answer) => {
        const res = await get('/routes/totp', `Bearer ${token(user)}`);
        expect(res.status).toBe(answer.status);
        expectHeader(res.headers['www-authenticate'], answer.wwwAuthenticate);
        expect(res.body).toEqual(errorBody(answer));
        expect(fake.calls(token(user))).toBe(1);
      });

      it('tells an expired token from an invalid one in error_description', async () => {
        const invalid = await get('/routes/totp', `Bearer ${token('invalid')}`);
        const expired = await get('/routes/totp', `Bearer ${token('expired')}`);
        expect(invalid.headers['www-authenticate']).not.toBe(expired.headers['www-authenticate']);
        expect(expired.headers['www-authenticate']).toMatch(/error_description="[^"]*expired[^"]*"/);
      });

      it('access denied: 403 insufficient_scope naming second-factor-auth-client', async () => {
        const res = await get('/routes/totp', `Bearer ${token('denied')}`);
        expect(res.status).toBe(accessDenied.status);
        expectHeader(res.headers['www-authenticate'], accessDenied.wwwAuthenticate);
        expect(res.body).toEqual(errorBody(accessDenied));
      });
    });

    describe('403 when the user lacks the required 2FA types', () => {
      it.each([
        // route, user, mode, required, missing
        ['/routes/bare', 'none', 'any', ALL_TYPES, ALL_TYPES],
        ['/routes/bare', 'unknownOnly', 'any', ALL_TYPES, ALL_TYPES],
        ['/routes/totp', 'sms', 'all', [1], [1]],
        ['/routes/totp', 'unknownOnly', 'all', [1], [1]],
        ['/routes/listed', 'authenticator', 'all', [0, 3], [3]],
        ['/routes/listed', 'none', 'all', [0, 3], [0, 3]],
        ['/routes/any-of', 'authenticatorAndEmail', 'any', [1, 2], [1, 2]],
        ['/routes/all-of', 'totp', 'all', [1, 2], [2]],
        ['/routes/all-of', 'sms', 'all', [1, 2], [1]],
      ] as const)(
        '%s for user "%s": 403 mode=%s required=%j missing=%j',
        async (path, user, mode, required, missing) => {
          const res = await get(path, `Bearer ${token(user)}`);
          expect(res.status).toBe(lackingMethods.status);
          expectHeader(res.headers['www-authenticate'], lackingMethods.wwwAuthenticate);
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(res.body).toEqual(errorBody(lackingMethods, { mode, required, missing }));
        },
      );

      it.each([
        ['/routes/bare', 'sms'],
        ['/routes/bare', 'emailAndUnknown'],
        ['/routes/totp', 'totp'],
        ['/routes/totp', 'full'],
        ['/routes/listed', 'authenticatorAndEmail'],
        ['/routes/any-of', 'totp'],
        ['/routes/any-of', 'sms'],
        ['/routes/all-of', 'full'],
      ])('%s lets user "%s" through', async (path, user) => {
        const res = await get(path, `Bearer ${token(user)}`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ ok: true });
      });
    });

    describe('503 with Retry-After when HyperID is unavailable', () => {
      const expect503 = (res: request.Response) => {
        expectAnswer(res, unavailable);
        // A small default: the breaker is off here, so there is no probe time to announce.
        expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(5);
      };

      it('HyperID answers service temporarily unavailable', async () => {
        const res = await get('/routes/totp', `Bearer ${token('unavailable')}`);
        expect503(res);
        expect(fake.calls(token('unavailable'))).toBe(1);
      });

      it('a timeout (HyperID never answers)', async () => {
        const user = token('hangs');
        fake.setToken(user, { auth_types: [1] }).injectFault({ hang: true }, user);
        const res = await get('/routes/totp', `Bearer ${user}`);
        expect503(res);
        expect(fake.calls(user)).toBe(1);
      });

      it('a connection reset', async () => {
        const user = token('reset');
        fake.setToken(user, { auth_types: [1] }).injectFault({ reset: true }, user);
        expect503(await get('/routes/totp', `Bearer ${user}`));
      });

      it.each([500, 502, 503, 504])('upstream HTTP %i', async (status) => {
        const user = token(`http-${status}`);
        fake.setToken(user, { auth_types: [1] }).injectFault({ status }, user);
        expect503(await get('/routes/totp', `Bearer ${user}`));
        expect(fake.calls(user)).toBe(1);
      });

      it('a HyperID that is not listening (connection refused)', async () => {
        const gone = await new FakeHyperIdServer({ tokens }).start();
        const url = gone.url;
        await gone.stop();
        const orphan = await createStrictApp(adapter, url);
        try {
          expect503(
            await request(serverOf(orphan))
              .get('/routes/totp')
              .set('Authorization', `Bearer ${token('totp')}`),
          );
        } finally {
          await orphan.close();
        }
      });
    });

    describe('502 when HyperID answers something unusable', () => {
      const expect502 = (res: request.Response) => expectAnswer(res, badUpstream);

      it('HyperID answers invalid parameters', async () => {
        expect502(await get('/routes/totp', `Bearer ${token('badParameters')}`));
        expect(fake.calls(token('badParameters'))).toBe(1);
      });

      it('an unknown result code', async () => {
        expect502(await get('/routes/totp', `Bearer ${token('unknownResult')}`));
      });

      it.each([
        ['truncated JSON', { malformed: true }],
        ['HTML with status 200', { body: '<html>maintenance</html>' }],
        ['a JSON array', { body: '[0, 3]' }],
        ['result 0 without auth_types', { body: '{"result":0}' }],
        ['auth_types that are not integers', { body: '{"result":0,"auth_types":["totp"]}' }],
        ['a string result', { body: '{"result":"0","auth_types":[1]}' }],
        ['a body over 64 KiB', { oversizedBytes: 70 * 1024 }],
      ])('%s', async (_case, fault) => {
        const user = token(`upstream-${_case.replace(/\W+/g, '-')}`);
        fake.setToken(user, { auth_types: [1] }).injectFault(fault, user);
        expect502(await get('/routes/totp', `Bearer ${user}`));
        expect(fake.calls(user)).toBe(1);
      });

      it('a redirect, which is not followed (the token never goes elsewhere)', async () => {
        const elsewhere = await new FakeHyperIdServer({ tokens }).start();
        try {
          const user = token('redirected');
          fake
            .setToken(user, { auth_types: [1] })
            .injectFault({ redirectTo: `${elsewhere.url}/2fa/types/get` }, user);
          expect502(await get('/routes/totp', `Bearer ${user}`));
          expect(elsewhere.calls()).toBe(0);
        } finally {
          await elsewhere.stop();
        }
      });
    });

    describe('circuit open', () => {
      const HALF_OPEN_AFTER_S = 60;
      let breakerApp: INestApplication;

      beforeAll(async () => {
        breakerApp = await createStrictApp(adapter, fake.url, {
          circuitBreaker: { threshold: 2, halfOpenAfterMs: HALF_OPEN_AFTER_S * 1000 },
        });
      });

      afterAll(async () => {
        await breakerApp?.close();
      });

      it('answers 503 with Retry-After until the probe, without calling HyperID', async () => {
        const failing = token('breaker-failing');
        fake.setToken(failing, { auth_types: [1] }).injectFault({ status: 500 }, failing);
        const ask = (user: string) =>
          request(serverOf(breakerApp)).get('/routes/totp').set('Authorization', `Bearer ${user}`);

        // Two consecutive transient failures open the circuit.
        for (let i = 0; i < 2; i += 1) expect((await ask(failing)).status).toBe(unavailable.status);
        expect(fake.calls(failing)).toBe(2);

        const before = fake.calls();
        const res = await ask(token('totp'));
        expect(res.status).toBe(unavailable.status);
        expect(res.body).toEqual(errorBody(unavailable));
        const retryAfter = Number(res.headers['retry-after']);
        expect(Number.isInteger(retryAfter)).toBe(true);
        // The probe is ~60 s away: the header says so, not the default.
        expect(retryAfter).toBeGreaterThan(HALF_OPEN_AFTER_S / 2);
        expect(retryAfter).toBeLessThanOrEqual(HALF_OPEN_AFTER_S);
        expect(fake.calls()).toBe(before);
      });

      it('still answers 400 and 401 without credentials while open (no HyperID call needed)', async () => {
        const malformed = await request(serverOf(breakerApp))
          .get('/routes/totp')
          .set('Authorization', 'Bearer');
        const missing = await request(serverOf(breakerApp)).get('/routes/totp');
        expect(malformed.status).toBe(malformedToken.status);
        expect(missing.status).toBe(noCredentials.status);
      });
    });
  },
);
