import 'reflect-metadata';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { packTarball, repoRoot } from '../support/pack.js';
import { STATUS_TABLE, errorBody, expectHeader } from '../support/status-table.js';

// A CommonJS NestJS 11 app (test/package/fixtures/nest11/) installs the packed tarball, compiles with tsc
// and loads our ES modules through Node's require(esm); its own jest suite runs in jest's
// CommonJS mode with the recipe of docs/nestjs-11-and-commonjs.md. Nothing here may need --experimental-vm-modules, so the
// children run without the NODE_OPTIONS this suite itself runs under.

const run = promisify(execFile);
const FIXTURE = join(repoRoot, 'test', 'package', 'fixtures', 'nest11');
const SETUP_TIMEOUT_MS = 300_000;
const nodeVersion = process.versions.node.split('.').map(Number);
// jest-runtime loads ES modules through require() natively from Node 24.9 on.
const jestRequiresEsmNatively = nodeVersion[0] > 24 || (nodeVersion[0] === 24 && nodeVersion[1] >= 9);

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  delete env.JEST_WORKER_ID;
  return env;
}

async function exec(cwd: string, file: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env: childEnv(), maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, output: `${stdout}\n${stderr}` };
  } catch (error) {
    const failure = error as { code?: number | string; stdout?: string; stderr?: string };
    return {
      code: typeof failure.code === 'number' ? failure.code : 1,
      output: `${failure.stdout ?? ''}\n${failure.stderr ?? ''}`,
    };
  }
}

async function execOk(cwd: string, file: string, args: string[]): Promise<string> {
  const { code, output } = await exec(cwd, file, args);
  if (code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${code}:\n${output.slice(-8000)}`);
  return output;
}

describe('a CommonJS NestJS 11 consumer of the packed tarball', () => {
  let dir: string;

  beforeAll(async () => {
    const tarball = await packTarball();
    dir = await mkdtemp(join(tmpdir(), 'nestjs-hyperid-nest11-'));
    await cp(FIXTURE, dir, {
      recursive: true,
      filter: (source) => !/[\\/](node_modules|dist)([\\/]|$)/.test(source.slice(FIXTURE.length)),
    });
    await execOk(dir, 'npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball]);
    await execOk(dir, process.execPath, [
      join('node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      'tsconfig.json',
    ]);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs against NestJS 11 with no second copy of Nest under the package', async () => {
    const common = JSON.parse(
      await readFile(join(dir, 'node_modules/@nestjs/common/package.json'), 'utf8'),
    ) as {
      version: string;
    };
    const core = JSON.parse(await readFile(join(dir, 'node_modules/@nestjs/core/package.json'), 'utf8')) as {
      version: string;
    };
    expect(common.version).toMatch(/^11\./);
    expect(core.version).toMatch(/^11\./);
    expect(existsSync(join(dir, 'node_modules/nestjs-hyperid/node_modules/@nestjs'))).toBe(false);
    const compiled = await readFile(join(dir, 'dist/app.module.js'), 'utf8');
    expect(compiled).toContain('require("nestjs-hyperid")');
  });

  describe('the compiled app, booted with node against FakeHyperIdServer', () => {
    let child: ChildProcess | undefined;
    let stderr = '';
    let base: string;
    let ready: { port: number; moduleFormat: string };

    beforeAll(async () => {
      child = spawn(process.execPath, ['dist/main.js'], {
        cwd: dir,
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const lines = createInterface({ input: child.stdout! });
      const exited = once(child, 'exit').then(([code]) => {
        throw new Error(`the app exited (${String(code)}) before it was ready:\n${stderr}`);
      });
      const firstLine = once(lines, 'line').then(([line]) => line as string);
      ready = JSON.parse(await Promise.race([firstLine, exited])) as typeof ready;
      base = `http://127.0.0.1:${ready.port}/account`;
    }, 60_000);

    afterAll(async () => {
      if (child && child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
    });

    const get = (path: string, authorization?: string) =>
      fetch(`${base}${path}`, { headers: authorization === undefined ? {} : { authorization } });

    it('runs as CommonJS and loads the package without warnings or errors', () => {
      expect(ready.moduleFormat).toBe('commonjs');
      expect(stderr).not.toMatch(/ERR_REQUIRE|ExperimentalWarning|Error/);
    });

    it('serves a route without a requirement', async () => {
      const res = await get('/public');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ok: true });
    });

    it('200: the user has the required method, and the route gets the types', async () => {
      const res = await get('/security', 'Bearer totp');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ types: [1, 3] });
    });

    it('401 with a bare challenge: no Authorization header, or another scheme', async () => {
      for (const authorization of [undefined, 'Basic dXNlcjpwYXNz']) {
        const res = await get('/security', authorization);
        expect(res.status).toBe(STATUS_TABLE.noCredentials.status);
        expectHeader(res.headers.get('www-authenticate'), STATUS_TABLE.noCredentials.wwwAuthenticate);
      }
    });

    it('400 invalid_request: a token outside b64token syntax', async () => {
      const res = await get('/security', 'Bearer not/a token');
      expect(res.status).toBe(STATUS_TABLE.malformedToken.status);
      expectHeader(res.headers.get('www-authenticate'), STATUS_TABLE.malformedToken.wwwAuthenticate);
    });

    it('401 invalid_token: HyperID says the token is invalid or expired', async () => {
      for (const [token, answer] of [
        ['unknown', STATUS_TABLE.tokenInvalid],
        ['expired', STATUS_TABLE.tokenExpired],
      ] as const) {
        const res = await get('/security', `Bearer ${token}`);
        expect(res.status).toBe(answer.status);
        expectHeader(res.headers.get('www-authenticate'), answer.wwwAuthenticate);
      }
    });

    it('403 with mode/required/missing: the user lacks the required method', async () => {
      const res = await get('/security', 'Bearer email');
      expect(res.status).toBe(STATUS_TABLE.lackingMethods.status);
      expect(await res.json()).toEqual(
        errorBody(STATUS_TABLE.lackingMethods, { mode: 'all', required: [1], missing: [1] }),
      );
    });

    it('503 with Retry-After: HyperID is unavailable', async () => {
      const res = await get('/security', 'Bearer down');
      expect(res.status).toBe(STATUS_TABLE.unavailable.status);
      expectHeader(res.headers.get('retry-after'), STATUS_TABLE.unavailable.retryAfter);
    });

    it('502: HyperID answers something that is not its API', async () => {
      const res = await get('/security', 'Bearer garbled');
      expect(res.status).toBe(STATUS_TABLE.badUpstream.status);
    });
  });

  describe("the app's own CommonJS jest suite", () => {
    const jest = (args: string[] = []) =>
      exec(dir, process.execPath, [join('node_modules', 'jest', 'bin', 'jest.js'), '--ci', ...args]);

    it(
      'passes with the README recipe (transformIgnorePatterns exception + a .js transform)',
      async () => {
        const config = await readFile(join(dir, 'jest.config.js'), 'utf8');
        expect(config).toContain("transformIgnorePatterns: ['/node_modules/(?!nestjs-hyperid/)']");
        const { code, output } = await jest();
        if (code !== 0) throw new Error(`the consumer's jest suite failed:\n${output.slice(-8000)}`);
        expect(output).toMatch(/Tests:\s+5 passed, 5 total/);
      },
      SETUP_TIMEOUT_MS,
    );

    (jestRequiresEsmNatively ? it.skip : it)(
      'fails without the transformIgnorePatterns exception: the recipe is what makes it work',
      async () => {
        await writeFile(
          join(dir, 'jest.without-exception.config.js'),
          "const base = require('./jest.config.js');\nmodule.exports = { ...base, transformIgnorePatterns: ['/node_modules/'] };\n",
        );
        const { code, output } = await jest(['--config', 'jest.without-exception.config.js']);
        expect(code).not.toBe(0);
        expect(output).toMatch(/Must use import to load ES Module: .*nestjs-hyperid/);
      },
      SETUP_TIMEOUT_MS,
    );
  });
});
