import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { Server } from 'node:http';
import request from 'supertest';
import { TwoFactorType } from 'nestjs-hyperid';
import { FakeHyperIdServer } from 'nestjs-hyperid/testing';
import { DocModules } from '../support/doc-modules.js';

// The example of docs/openapi.md (the block marked `readme-test: openapi-app`), run as a user would
// paste it: written to a module inside the repository, so that 'nestjs-hyperid' and
// 'nestjs-hyperid/swagger' resolve to the built dist/ through the package's exports map. Its
// document is served at /docs-json and must say what the app does.

const modules = new DocModules('openapi-docs');
const { Totp, AlternativeEmail } = TwoFactorType;

interface Operation {
  security?: unknown;
  responses: Record<string, unknown>;
  'x-hyperid-2fa'?: unknown;
}

describe('docs/openapi.md example', () => {
  const previousApiUrl = process.env.HYPERID_API_URL;
  let fake: FakeHyperIdServer;
  let app: INestApplication;
  let paths: Record<string, Record<string, Operation>>;
  let document: Record<string, unknown>;

  beforeAll(async () => {
    const file = await modules.write('docs/openapi.md', 'openapi-app', 'app.module.ts');

    fake = await new FakeHyperIdServer({
      tokens: { totp: { auth_types: [Totp] }, both: { auth_types: [Totp, AlternativeEmail] } },
    }).start();
    // The block reads HYPERID_API_URL when it is imported (its @Module decorator runs then).
    process.env.HYPERID_API_URL = fake.url;
    const { AppModule, setUpOpenApi } = (await import(file)) as {
      AppModule: new () => object;
      setUpOpenApi: (app: INestApplication) => void;
    };
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    setUpOpenApi(app);
    await app.init();

    const res = await request(app.getHttpServer() as Server).get('/docs-json');
    expect(res.status).toBe(200);
    document = res.body as Record<string, unknown>;
    paths = document.paths as typeof paths;
  });

  afterAll(async () => {
    await app?.close();
    await fake?.stop();
    if (previousApiUrl === undefined) delete process.env.HYPERID_API_URL;
    else process.env.HYPERID_API_URL = previousApiUrl;
    await modules.remove();
  });

  it('serves a valid OpenAPI document at /docs-json, and Swagger UI at /docs', async () => {
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    const ui = await request(app.getHttpServer() as Server).get('/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger-ui');
  });

  it("documents the class's requirement on GET /payouts, and the app enforces it", async () => {
    const operation = paths['/payouts'].get;
    expect(operation['x-hyperid-2fa']).toEqual({ mode: 'all', required: [Totp] });
    expect(operation.security).toEqual([{ bearer: [] }]);
    expect(Object.keys(operation.responses)).toEqual(['200', '400', '401', '403', '502', '503']);
    const server = app.getHttpServer() as Server;
    expect((await request(server).get('/payouts')).status).toBe(401);
    expect((await request(server).get('/payouts').auth('totp', { type: 'bearer' })).status).toBe(200);
  });

  it("documents POST /payouts's own requirement, and the app enforces it", async () => {
    const operation = paths['/payouts'].post;
    expect(operation['x-hyperid-2fa']).toEqual({ mode: 'all', required: [Totp, AlternativeEmail] });
    expect(Object.keys(operation.responses)).toContain('201');
    const server = app.getHttpServer() as Server;
    const refused = await request(server).post('/payouts').auth('totp', { type: 'bearer' });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ mode: 'all', missing: [AlternativeEmail] });
    expect((await request(server).post('/payouts').auth('both', { type: 'bearer' })).status).toBe(201);
  });

  it('documents the skipped GET /payouts/fees as unguarded, and the app lets it through', async () => {
    const operation = paths['/payouts/fees'].get;
    expect(operation['x-hyperid-2fa']).toBeUndefined();
    expect(operation.security).toBeUndefined();
    expect(Object.keys(operation.responses)).toEqual(['200']);
    const calls = fake.calls();
    expect((await request(app.getHttpServer() as Server).get('/payouts/fees')).status).toBe(200);
    expect(fake.calls()).toBe(calls);
  });
});
