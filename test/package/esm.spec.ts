import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { HyperIdResult } from '../../lib/index.js';
import type { FakeHyperIdServer } from '../../lib/testing/index.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** Runtime names the README promises at the package root (types are checked by tsc, not here). */
const ROOT_NAMES = [
  'HyperIdModule',
  'TwoFactorService',
  'TwoFactorTypesResponseDto',
  'RequireTwoFactor',
  'SkipTwoFactor',
  'TwoFactorTypes',
  'VerifiedTwoFactorTypes',
  'HyperIdClient',
  'HyperIdExceptionFilter',
  'toHttpException',
  'TwoFactorGuard',
  'TwoFactorType',
  'HyperIdResult',
  'HyperIdError',
  'HyperIdTokenInvalidError',
  'HyperIdTokenExpiredError',
  'HyperIdAccessDeniedError',
  'HyperIdServiceUnavailableError',
  'HyperIdRateLimitedError',
  'HyperIdCircuitOpenError',
  'HyperIdBusyError',
  'HyperIdInvalidRequestError',
  'HyperIdUpstreamError',
];

/** Internals that must stay private (lib/index.ts is the whole public API). */
const PRIVATE_NAMES = [
  'HttpHyperIdClient',
  'TwoFactorCache',
  'HyperIdResiliencePolicy',
  'readBearerCredentials',
  'isWellFormedAccessToken',
  'parseTwoFactorAnswer',
  'resolveHyperIdOptions',
  'tokenDigest',
  'CacheKeys',
  'isTransientFailure',
  'isTokenRefusal',
  'HYPERID_RESOLVED_OPTIONS',
  'HYPERID_MODULE_OPTIONS',
  'ConfigurableHyperIdModule',
  'FakeHyperIdServer',
];

// A variable specifier: tsc must not need dist/ to type-check this file (CI type-checks first).
const load = (specifier: string) => import(specifier) as Promise<Record<string, unknown>>;

type ErrorClass = new (message: string) => Error;

interface NodeReport {
  root: string;
  testing: string;
  names: string[];
  testingNames: string[];
  required: string[];
  deep: string;
}

/** Runs `node` with `args` at the repository root, without jest's NODE_OPTIONS. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, {
    cwd: repoRoot,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return stdout;
}

// Loads the BUILT package through its own `exports` map (package self-reference), as a user
// would. `npm test` builds dist/ first (pretest).
describe('the built package, through its exports map', () => {
  beforeAll(() => {
    for (const entry of ['dist/index.js', 'dist/testing/index.js']) {
      if (!existsSync(`${repoRoot}/${entry}`))
        throw new Error(`${entry} is missing: run "npm run build" first`);
    }
  });

  it('exposes the public API at the root and nothing private', async () => {
    const root = await load('nestjs-hyperid');
    expect(Object.keys(root)).toEqual(expect.arrayContaining(ROOT_NAMES));
    for (const name of PRIVATE_NAMES) expect(root).not.toHaveProperty(name);
    const hyperIdModule = root.HyperIdModule as Record<string, unknown>;
    expect(typeof hyperIdModule.forRoot).toBe('function');
    expect(typeof hyperIdModule.forRootAsync).toBe('function');
    expect(root.TwoFactorType).toMatchObject({
      HyperIdAuthenticator: 0,
      Totp: 1,
      Sms: 2,
      AlternativeEmail: 3,
    });
    expect(root.HyperIdResult).toEqual({ ...HyperIdResult });
    for (const name of ROOT_NAMES.filter((n) => n.startsWith('HyperId') && n.endsWith('Error'))) {
      const error = new (root[name] as ErrorClass)('boom');
      expect(error).toBeInstanceOf(root.HyperIdError);
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe(name);
    }
  });

  it('exposes the fake HyperID at nestjs-hyperid/testing, and it answers', async () => {
    const testing = await load('nestjs-hyperid/testing');
    expect(Object.keys(testing)).toEqual(expect.arrayContaining(['FakeHyperIdServer']));
    const Fake = testing.FakeHyperIdServer as typeof FakeHyperIdServer;
    const fake = await new Fake({ tokens: { t: { auth_types: [0, 3] } } }).start();
    try {
      const res = await fetch(`${fake.url}/2fa/types/get`, {
        method: 'POST',
        headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
        body: '{}',
      });
      expect(await res.json()).toEqual({ result: 0, auth_types: [0, 3] });
      expect(fake.calls('t')).toBe(1);
    } finally {
      await fake.stop();
    }
  });

  it('resolves to dist/ in plain Node (import and require), and refuses deep imports', async () => {
    const script = `
      const root = await import('nestjs-hyperid');
      const testing = await import('nestjs-hyperid/testing');
      const { createRequire } = await import('node:module');
      const require = createRequire(process.cwd() + '/package.json');
      let deep = 'resolved';
      try { await import('nestjs-hyperid/dist/hyperid.client.js'); } catch (e) { deep = e.code; }
      console.log(JSON.stringify({
        root: import.meta.resolve('nestjs-hyperid'),
        testing: import.meta.resolve('nestjs-hyperid/testing'),
        names: Object.keys(root),
        testingNames: Object.keys(testing),
        required: Object.keys(require('nestjs-hyperid')),
        deep,
      }));`;
    const out = JSON.parse(await node(['--input-type=module', '-e', script])) as NodeReport;
    expect(out.root).toMatch(/\/dist\/index\.js$/);
    expect(out.testing).toMatch(/\/dist\/testing\/index\.js$/);
    expect(out.names).toEqual(expect.arrayContaining(ROOT_NAMES));
    expect(out.testingNames).toEqual(expect.arrayContaining(['FakeHyperIdServer']));
    // require(esm) on the supported Node versions: no top-level await in lib/.
    expect(out.required).toEqual(out.names);
    expect(out.deep).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });
});
