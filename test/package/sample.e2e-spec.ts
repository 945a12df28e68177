import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import request from 'supertest';
import { HyperIdResult } from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { AppModule } from '../../sample/app.module.js';
import { DEMO_HYPERID } from '../../sample/demo-hyperid.module.js';
import { DEMO_TOKENS } from '../../sample/demo-tokens.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';

const { noCredentials, tokenInvalid, tokenExpired, accessDenied, lackingMethods } = STATUS_TABLE;

/** Resolves true when something accepts TCP connections at `url`. */
function accepts(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function bootSample(): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('sample app with the embedded fake HyperID (HYPERID_API_URL unset)', () => {
  let app: INestApplication;
  let demo: FakeHyperIdServer;
  const saved = process.env.HYPERID_API_URL;

  beforeAll(async () => {
    delete process.env.HYPERID_API_URL;
    app = await bootSample();
    demo = app.get<FakeHyperIdServer>(DEMO_HYPERID);
  });

  afterAll(async () => {
    await app?.close();
    if (saved !== undefined) process.env.HYPERID_API_URL = saved;
  });

  it('starts a fake HyperID in-process', async () => {
    expect(demo).toBeInstanceOf(FakeHyperIdServer);
    expect(await accepts(demo.url)).toBe(true);
  });

  it('GET /public answers 200 without a token and without calling HyperID', async () => {
    const before = demo.calls();
    const res = await request(app.getHttpServer() as Server).get('/public');
    expect(res.status).toBe(200);
    expect(demo.calls()).toBe(before);
  });

  it.each([
    ['demo-all', 200],
    ['demo-none', lackingMethods.status],
    ['demo-expired', tokenExpired.status],
    ['demo-invalid', tokenInvalid.status],
    ['demo-noscope', accessDenied.status],
  ])('GET /account with %s answers %i', async (token, status) => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer(token));
    expect(res.status).toBe(status);
  });

  it('GET /account with demo-all hands the verified types to the handler', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer('demo-all'));
    expect(res.body).toEqual({ account: 'demo', twoFactorTypes: [0, 1, 2, 3] });
  });

  it('GET /account without a token answers 401 with a bare Bearer challenge', async () => {
    const res = await request(app.getHttpServer() as Server).get('/account');
    expect(res.status).toBe(noCredentials.status);
    expectHeader(res.headers['www-authenticate'], noCredentials.wwwAuthenticate);
  });

  it('GET /account with demo-none names every known type, mode any', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer('demo-none'));
    expect(res.body).toMatchObject({
      statusCode: lackingMethods.status,
      mode: 'any',
      required: [0, 1, 2, 3],
      missing: [0, 1, 2, 3],
    });
  });

  it('GET /account with demo-expired answers an invalid_token challenge', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer('demo-expired'));
    expectHeader(res.headers['www-authenticate'], tokenExpired.wwwAuthenticate);
  });

  it('GET /account with demo-noscope answers an insufficient_scope challenge', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer('demo-noscope'));
    expectHeader(res.headers['www-authenticate'], accessDenied.wwwAuthenticate);
  });

  it('POST /transfers answers 403 with demo-totp, missing the authenticator app', async () => {
    const res = await request(app.getHttpServer() as Server)
      .post('/transfers')
      .set(bearer('demo-totp'));
    expect(res.status).toBe(lackingMethods.status);
    expect(res.body).toMatchObject({ mode: 'all', required: [0], missing: [0] });
  });

  it.each([
    [50, 'demo-totp', 201],
    [1000, 'demo-none', 201],
    [1001, 'demo-totp', lackingMethods.status],
    [5000, 'demo-all', 201],
  ])('POST /transfers of %i with %s answers %i: 2FA only over 1000', async (amount, token, status) => {
    const before = demo.calls();
    const res = await request(app.getHttpServer() as Server)
      .post('/transfers')
      .set(bearer(token))
      .send({ amount });
    expect(res.status).toBe(status);
    if (amount <= 1000) expect(demo.calls()).toBe(before); // the condition exempts: HyperID is not asked
  });

  it('POST /transfers answers 2xx with demo-all', async () => {
    const res = await request(app.getHttpServer() as Server)
      .post('/transfers')
      .set(bearer('demo-all'));
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
    expect(res.body).toEqual({ transfer: 'accepted' });
  });

  it('DELETE /account answers 2xx with demo-all', async () => {
    const res = await request(app.getHttpServer() as Server)
      .delete('/account')
      .set(bearer('demo-all'));
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(300);
  });

  it('DELETE /account answers 403 with demo-totp, missing the alternative e-mail', async () => {
    const res = await request(app.getHttpServer() as Server)
      .delete('/account')
      .set(bearer('demo-totp'));
    expect(res.status).toBe(lackingMethods.status);
    expect(res.body).toMatchObject({ mode: 'all', required: [1, 3], missing: [3] });
  });

  it('GET /me/2fa with demo-all returns the DTO with auth_types [0,1,2,3]', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/me/2fa')
      .set(bearer('demo-all'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ result: 0, auth_types: [0, 1, 2, 3] });
  });

  it('GET /me/2fa with demo-none returns an empty list (no requirement on that route)', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/me/2fa')
      .set(bearer('demo-none'));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ result: 0, auth_types: [] });
  });

  it.each([
    [undefined, noCredentials.status],
    ['demo-expired', tokenExpired.status],
    ['demo-invalid', tokenInvalid.status],
    ['demo-noscope', accessDenied.status],
  ])('GET /me/2fa with %s answers %i', async (token, status) => {
    const req = request(app.getHttpServer() as Server).get('/me/2fa');
    const res = await (token === undefined ? req : req.set(bearer(token)));
    expect(res.status).toBe(status);
  });

  it('the demo table: three users by their 2FA methods, three refusals by HyperID result', () => {
    expect(DEMO_TOKENS).toEqual({
      'demo-all': { auth_types: [0, 1, 2, 3] },
      'demo-totp': { auth_types: [1] },
      'demo-none': { auth_types: [] },
      'demo-expired': { result: HyperIdResult.TokenExpired },
      'demo-invalid': { result: HyperIdResult.TokenInvalid },
      'demo-noscope': { result: HyperIdResult.AccessDenied },
    });
  });

  it('no response body carries a token', async () => {
    const tokens = Object.keys(DEMO_TOKENS);
    for (const token of tokens) {
      for (const [method, path] of [
        ['get', '/account'],
        ['post', '/transfers'],
        ['delete', '/account'],
        ['get', '/me/2fa'],
      ] as const) {
        const agent = request(app.getHttpServer() as Server);
        const res = await agent[method](path).set(bearer(token));
        expect(res.text).not.toContain(token);
      }
    }
  });
});

describe('sample app with HYPERID_API_URL set', () => {
  let app: INestApplication;
  let external: FakeHyperIdServer;
  const saved = process.env.HYPERID_API_URL;

  beforeAll(async () => {
    external = await new FakeHyperIdServer({ tokens: { 'real-user': { auth_types: [0] } } }).start();
    process.env.HYPERID_API_URL = external.url;
    app = await bootSample();
  });

  afterAll(async () => {
    await app?.close();
    await external?.stop();
    if (saved === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = saved;
  });

  it('starts no fake of its own', () => {
    expect(app.get(DEMO_HYPERID)).toBeNull();
  });

  it('asks the HyperID the variable names', async () => {
    const res = await request(app.getHttpServer() as Server)
      .post('/transfers')
      .set(bearer('real-user'));
    expect(res.status).toBe(201);
    expect(external.calls('real-user')).toBe(1);
  });

  it('knows no demo token there', async () => {
    const res = await request(app.getHttpServer() as Server)
      .get('/account')
      .set(bearer('demo-all'));
    expect(res.status).toBe(tokenInvalid.status);
  });
});

describe('sample app shutdown', () => {
  it('app.close() stops the embedded fake HyperID', async () => {
    const saved = process.env.HYPERID_API_URL;
    delete process.env.HYPERID_API_URL;
    try {
      const app = await bootSample();
      const url = app.get<FakeHyperIdServer>(DEMO_HYPERID).url;
      expect(await accepts(url)).toBe(true);
      await app.close();
      expect(await accepts(url)).toBe(false);
    } finally {
      if (saved !== undefined) process.env.HYPERID_API_URL = saved;
    }
  });
});

describe('sample app with a blank HYPERID_API_URL', () => {
  const saved = process.env.HYPERID_API_URL;

  afterAll(() => {
    if (saved === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = saved;
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
  ])('%s counts as unset: the embedded fake HyperID answers', async (_, blank) => {
    process.env.HYPERID_API_URL = blank;
    const app = await bootSample();
    try {
      expect(app.get(DEMO_HYPERID)).toBeInstanceOf(FakeHyperIdServer);
      const res = await request(app.getHttpServer() as Server)
        .get('/account')
        .set(bearer('demo-all'));
      expect(res.status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('sample app with NODE_ENV=production and no HYPERID_API_URL', () => {
  const saved = { url: process.env.HYPERID_API_URL, env: process.env.NODE_ENV };

  afterEach(() => {
    jest.restoreAllMocks();
    if (saved.url === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = saved.url;
    if (saved.env === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = saved.env;
  });

  it.each([
    ['unset', undefined],
    ['blank', ''],
  ])('HYPERID_API_URL %s: AppModule refuses to boot and starts no fake', async (_, apiUrl) => {
    process.env.NODE_ENV = 'production';
    if (apiUrl === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = apiUrl;
    const start = jest.spyOn(FakeHyperIdServer.prototype, 'start');

    let refusal: unknown;
    // Should it boot after all, close it: a fake left listening would keep jest from exiting.
    await bootSample().then(
      (app) => app.close(),
      (error: unknown) => (refusal = error),
    );
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toMatch(/HYPERID_API_URL .*refusing to start/);
    expect(start).not.toHaveBeenCalled();
  });

  it('HYPERID_API_URL set: boots against that HyperID', async () => {
    const external = await new FakeHyperIdServer({ tokens: { 'real-user': { auth_types: [0] } } }).start();
    process.env.NODE_ENV = 'production';
    process.env.HYPERID_API_URL = external.url;
    try {
      const app = await bootSample();
      try {
        expect(app.get(DEMO_HYPERID)).toBeNull();
        const res = await request(app.getHttpServer() as Server)
          .get('/account')
          .set(bearer('real-user'));
        expect(res.status).toBe(200);
        expect(external.calls('real-user')).toBe(1);
      } finally {
        await app.close();
      }
    } finally {
      await external.stop();
    }
  });
});
