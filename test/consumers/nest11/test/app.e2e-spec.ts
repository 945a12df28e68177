import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { HttpException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as hyperid from 'nestjs-hyperid';
import type { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import request from 'supertest';
import { AppModule } from '../src/app.module';
import { startFakeHyperId } from '../src/fake-hyperid';

// This suite runs in jest's CommonJS mode: nestjs-hyperid (ES modules) reaches it only through
// the transformIgnorePatterns exception and the .js transform in jest.config.js.
describe('nestjs-hyperid in a CommonJS NestJS 11 jest suite', () => {
  let fake: FakeHyperIdServer;
  let app: INestApplication;

  beforeAll(async () => {
    fake = await startFakeHyperId();
    process.env.HYPERID_API_URL = fake.url;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
  });

  it("loads the package through CommonJS, sharing the app's @nestjs/common", () => {
    expect(typeof module).toBe('object');
    expect(typeof hyperid.HyperIdModule.forRoot).toBe('function');
    const refusal = new hyperid.TwoFactorRequiredException('all', [hyperid.TwoFactorType.Totp], []);
    expect(refusal).toBeInstanceOf(HttpException);
  });

  it('lets a user with the required method through', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/security')
      .set('Authorization', 'Bearer totp');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ types: [1, 3] });
  });

  it('answers 403 with required/missing to a user without it', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/security')
      .set('Authorization', 'Bearer email');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ statusCode: 403, mode: 'all', required: [1], missing: [1] });
  });

  it('answers 401 with a bare challenge without a token, and never calls HyperID for it', async () => {
    fake.resetCalls();
    const res = await request(app.getHttpServer()).get('/account/security');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="hyperid"');
    expect(fake.calls()).toBe(0);
  });

  it('answers 503 with Retry-After when HyperID is down', async () => {
    const res = await request(app.getHttpServer())
      .get('/account/security')
      .set('Authorization', 'Bearer down');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toMatch(/^\d+$/);
  });
});
