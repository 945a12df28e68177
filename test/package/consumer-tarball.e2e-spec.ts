import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { HyperIdResult } from '../../lib/hyperid-result.enum.js';
import { packTarball, repoRoot } from '../support/pack.js';
import { STATUS_TABLE, expectHeader } from '../support/status-table.js';
import { createUserApp, get, readJson, requiredPeers, run, startUserApp } from '../support/user-app.js';

// Install-as-a-user: `npm pack`, install the tarball into a fresh NestJS 12 ESM app (fixtures in
// test/package/fixtures/user-app, written as the README says), compile it with its own tsc, boot
// it against the package's FakeHyperIdServer and check README "Errors and status codes" as an HTTP
// client sees it.

const TIMEOUT = 240_000;

/** What the README tells a user to install next to nestjs-hyperid (required peers + Express). */
const USER_DEPENDENCIES = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/axios',
  'axios',
  'rxjs',
  'reflect-metadata',
  'class-validator',
  'class-transformer',
];
const USER_DEV_DEPENDENCIES = ['typescript', '@types/node'];

interface RootPackageJson {
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  exports: Record<string, string | Record<string, string>>;
}

describe('the packed tarball, installed into a fresh NestJS app', () => {
  let appDir: string;
  let tarball: string;
  let child: ChildProcess | undefined;
  let ready: { fake: string; apps: Record<string, string>; serviceCheck: Record<string, unknown> };
  let exit: Promise<unknown[]>;

  beforeAll(async () => {
    tarball = await packTarball();
    appDir = await createUserApp({
      fixture: 'user-app',
      name: 'user-app',
      tarball,
      dependencies: USER_DEPENDENCIES,
      devDependencies: USER_DEV_DEPENDENCIES,
    });
    const app = await startUserApp<typeof ready>(appDir);
    child = app.child;
    exit = app.exit;
    ready = app.ready;
  }, TIMEOUT);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exit;
    }
    if (appDir) await rm(appDir, { recursive: true, force: true });
  }, 30_000);

  it('ships dist/, the sources its maps point to, LICENSE and package.json, with every exports target present', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout.split('\n').filter(Boolean);
    expect(files).toEqual(
      expect.arrayContaining([
        'package/package.json',
        'package/dist/index.js',
        'package/dist/testing/index.d.ts',
        'package/LICENSE',
        'package/docs/caching.md',
      ]),
    );
    expect(
      files.filter(
        (f) =>
          !/^package\/(dist\/|lib\/.*\.ts$|docs\/[a-z0-9-]+\.md$|(package\.json|README\.md|LICENSE|CHANGELOG\.md)$)/.test(
            f,
          ),
      ),
    ).toEqual([]);
    expect(files.filter((f) => /\.spec\.(js|d\.ts|ts)$|fixture/.test(f))).toEqual([]);
    // Every source a shipped map names is shipped too, so stack traces and debuggers resolve.
    const unresolved: string[] = [];
    for (const map of files.filter((f) => f.endsWith('.map'))) {
      const { stdout: text } = await run('tar', ['-xzOf', tarball, map]);
      const { sources } = JSON.parse(text) as { sources: string[] };
      for (const source of sources) {
        const target = posix.normalize(posix.join(posix.dirname(map), source));
        if (!files.includes(target)) unresolved.push(`${map} -> ${source}`);
      }
    }
    expect(unresolved).toEqual([]);
    const pkg = await readJson<RootPackageJson>(join(repoRoot, 'package.json'));
    const missing = Object.entries(pkg.exports).flatMap(([entry, target]) =>
      (typeof target === 'string' ? [target] : Object.values(target))
        .filter((path) => !files.includes(`package/${path.replace(/^\.\//, '')}`))
        .map((path) => `${entry} -> ${path}`),
    );
    expect(missing).toEqual([]);
  });

  it('lists every required peer dependency in what the README tells a user to install', async () => {
    const required = await requiredPeers();
    expect(required.filter((name) => !USER_DEPENDENCIES.includes(name))).toEqual([]);
  });

  it('runs without the optional peers (none of them is installed in the user app)', async () => {
    const pkg = await readJson<RootPackageJson>(join(repoRoot, 'package.json'));
    const optional = Object.keys(pkg.peerDependenciesMeta ?? {}).filter(
      (name) => pkg.peerDependenciesMeta?.[name]?.optional,
    );
    expect(optional.filter((name) => existsSync(join(appDir, 'node_modules', name)))).toEqual([]);
    expect(ready.apps).toHaveProperty('forRoot');
  });

  it('refuses deep imports into dist/ (the exports map is the only way in)', async () => {
    const probe =
      "import('nestjs-hyperid/dist/two-factor.guard.js').then(() => console.log('loaded'), (e) => console.log(e.code))";
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: appDir });
    expect(stdout.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('TwoFactorService and the error classes work from the installed package', () => {
    expect(ready.serviceCheck).toEqual({
      auth_types: [3],
      expiredIsHyperIdError: true,
      expiredResult: HyperIdResult.TokenExpired,
    });
  });

  describe.each(['forRoot', 'forRootAsync-useFactory', 'forRootAsync-useClass'])(
    'registered with %s',
    (name) => {
      const url = (path: string) => `${ready.apps[name]}${path}`;

      it('200 with the required methods, handing the types to the route', async () => {
        const res = await get(url('/account'), 'Bearer user-all');
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toEqual({ types: [0, 1, 2, 3] });
      });

      it('200 on a route without a requirement, without a token', async () => {
        expect((await get(url('/public'))).status).toBe(200);
      });

      it.each([
        ['no Authorization header', undefined],
        ['another scheme', 'Basic dXNlcjpwYXNz'],
      ])('401 with a bare challenge for %s', async (_what, authorization) => {
        const res = await get(url('/account'), authorization);
        expect(res.status).toBe(STATUS_TABLE.noCredentials.status);
        expectHeader(res.headers['www-authenticate'], STATUS_TABLE.noCredentials.wwwAuthenticate);
      });

      it.each([
        ['Bearer with no token', 'Bearer '],
        ['a token outside b64token syntax', 'Bearer user-all!'],
        ['a token over 8 KiB', `Bearer ${'a'.repeat(8 * 1024 + 1)}`],
      ])('400 invalid_request for %s', async (_what, authorization) => {
        const res = await get(url('/account'), authorization);
        expect(res.status).toBe(STATUS_TABLE.malformedToken.status);
        expectHeader(res.headers['www-authenticate'], STATUS_TABLE.malformedToken.wwwAuthenticate);
      });

      it.each([
        ['token-expired', STATUS_TABLE.tokenExpired],
        ['token-invalid', STATUS_TABLE.tokenInvalid],
      ])('401 invalid_token for %s', async (token, answer) => {
        const res = await get(url('/account'), `Bearer ${token}`);
        expect(res.status).toBe(answer.status);
        expectHeader(res.headers['www-authenticate'], answer.wwwAuthenticate);
        expect(res.body).not.toContain(token);
      });

      it('403 insufficient_scope when the scope is missing', async () => {
        const res = await get(url('/account'), 'Bearer no-scope');
        expect(res.status).toBe(STATUS_TABLE.accessDenied.status);
        expectHeader(res.headers['www-authenticate'], STATUS_TABLE.accessDenied.wwwAuthenticate);
      });

      it('403 with mode, required and missing when the user lacks a method', async () => {
        const res = await get(url('/transfers'), 'Bearer user-email');
        const { status, error, wwwAuthenticate } = STATUS_TABLE.lackingMethods;
        expect(res.status).toBe(status);
        expectHeader(res.headers['www-authenticate'], wwwAuthenticate);
        expect(JSON.parse(res.body)).toMatchObject({
          statusCode: status,
          error,
          mode: 'all',
          required: [1, 3],
          missing: [1],
        });
      });

      it('403 naming every known type for a bare @RequireTwoFactor() and a user without 2FA', async () => {
        const res = await get(url('/account'), 'Bearer user-none');
        expect(res.status).toBe(STATUS_TABLE.lackingMethods.status);
        expect(JSON.parse(res.body)).toMatchObject({
          mode: 'any',
          required: [0, 1, 2, 3],
          missing: [0, 1, 2, 3],
        });
      });

      it.each(['bad-params', 'garbled', 'odd-code'])('502 for %s', async (token) => {
        const res = await get(url('/account'), `Bearer ${token}`);
        expect(res.status).toBe(STATUS_TABLE.badUpstream.status);
        expect(res.body).not.toContain(token);
      });

      // Last: these failures count towards the circuit breaker.
      it.each(['hyperid-down', 'upstream-500'])('503 with Retry-After for %s', async (token) => {
        const res = await get(url('/account'), `Bearer ${token}`);
        expect(res.status).toBe(STATUS_TABLE.unavailable.status);
        expectHeader(res.headers['retry-after'], STATUS_TABLE.unavailable.retryAfter);
      });
    },
  );

  it('stops cleanly on SIGTERM', async () => {
    child!.kill('SIGTERM');
    const [code] = await exit;
    expect(code).toBe(0);
  });
});
