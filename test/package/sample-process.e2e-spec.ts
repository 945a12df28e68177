import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Validator } from '@seriousme/openapi-schema-validator';
import { freePort } from '../support/free-port.js';
import { repoRoot } from '../support/pack.js';

// The sample as `npm start` runs it: compiled by tsc, started with node, stopped with a signal.

const run = promisify(execFile);
const mainJs = join(repoRoot, 'sample', 'dist', 'sample', 'main.js');

/**
 * Preloaded into the sample: reports every attempt to open a listening socket, the app's and the
 * fake HyperID's alike, since a process that exits at once leaves no port behind to probe.
 */
const LISTEN_MARK = '[sample-test] listen() called';
const reportListen = `data:text/javascript,${encodeURIComponent(`
  import net from 'node:net';
  const listen = net.Server.prototype.listen;
  net.Server.prototype.listen = function (...args) {
    process.stderr.write(${JSON.stringify(`${LISTEN_MARK}\n`)});
    return listen.apply(this, args);
  };
`)}`;

/**
 * The environment of a sample process: this one's, without what jest adds (NODE_OPTIONS, and
 * NODE_ENV=test) nor HyperID's URL, so that each test sets exactly what it is about.
 */
function sampleEnv(overrides: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.HYPERID_API_URL;
  delete env.NODE_OPTIONS;
  delete env.NODE_ENV;
  return { ...env, ...overrides };
}

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await run(process.execPath, [tsc, '-p', join(repoRoot, 'sample', 'tsconfig.json')], { cwd: repoRoot });
}, 120_000);

/** Resolves once `predicate` holds for the accumulated output, rejects if the process exits first. */
function waitForOutput(
  child: ChildProcess,
  output: () => string,
  predicate: (text: string) => boolean,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (predicate(output())) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`sample exited (code ${code}) before it was ready:\n${output()}`));
    };
    const cleanup = () => {
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

describe('sample as a process (node sample/dist/sample/main.js)', () => {
  let child: ChildProcess;
  let port: number;
  let output = '';
  let exit: Promise<[number | null, NodeJS.Signals | null]>;

  beforeAll(async () => {
    port = await freePort();
    child = spawn(process.execPath, [mainJs], {
      cwd: repoRoot,
      env: sampleEnv({ PORT: String(port) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exit = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await waitForOutput(
      child,
      () => output,
      (text) => text.includes('Ctrl-C stops'),
    );
  }, 120_000);

  afterAll(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  it('listens on PORT and says so', () => {
    expect(output).toContain(`Listening on http://localhost:${port}`);
  });

  it('warns loudly, before it listens, that it runs a fake HyperID with demo tokens, never for production', () => {
    const warnings = output
      .split('\n')
      .filter((line) => /\bWARN\b.*\[DemoHyperId\]/.test(line))
      .join('\n');
    expect(warnings).toContain('DEMO MODE');
    expect(warnings).toContain('FAKE HyperID');
    expect(warnings).toContain('demo tokens');
    expect(warnings).toContain('NEVER use this in production');
    expect(warnings).toContain('HYPERID_API_URL');
    expect(output.indexOf('DEMO MODE')).toBeLessThan(output.indexOf('Listening on'));
  });

  it('prints the demo tokens and ready-to-paste curl lines', () => {
    for (const token of [
      'demo-all',
      'demo-totp',
      'demo-none',
      'demo-expired',
      'demo-invalid',
      'demo-noscope',
    ]) {
      expect(output).toContain(token);
    }
    expect(output).toContain(`curl -i http://localhost:${port}/account -H 'Authorization: Bearer demo-all'`);
    expect(output).toContain(`Swagger UI at http://localhost:${port}/docs`);
  });

  it('serves GET /public on that port', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/public`);
    expect(res.status).toBe(200);
  });

  it('serves GET /account with demo-all from the embedded fake HyperID', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/account`, {
      headers: { Authorization: 'Bearer demo-all' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ account: 'demo', twoFactorTypes: [0, 1, 2, 3] });
  });

  it('serves its OpenAPI document at /docs-json, each guarded route documented as it is guarded', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/docs-json`);
    expect(res.status).toBe(200);
    const document = (await res.json()) as {
      paths: Record<string, Record<string, { security?: unknown; 'x-hyperid-2fa'?: unknown }>>;
    };
    expect((await new Validator().validate(document)).valid).toBe(true);
    const { paths } = document;
    expect(paths['/account'].get['x-hyperid-2fa']).toEqual({ mode: 'any', required: [0, 1, 2, 3] });
    // Over 1000 only: a condition makes the requirement optional for the document.
    expect(paths['/transfers'].post['x-hyperid-2fa']).toEqual({
      mode: 'all',
      required: [0],
      conditional: true,
    });
    expect(paths['/transfers'].post.security).toEqual([{ bearer: [] }, {}]);
    expect(paths['/account'].delete['x-hyperid-2fa']).toEqual({ mode: 'all', required: [1, 3] });
    expect(paths['/account'].get.security).toEqual([{ bearer: [] }]);
    expect(paths['/public'].get['x-hyperid-2fa']).toBeUndefined();
    expect(paths['/public'].get.security).toBeUndefined();
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/docs`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('swagger-ui');
  });

  it('exits 0 on SIGTERM', async () => {
    child.kill('SIGTERM');
    const [code, signal] = await exit;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });
});

describe('sample as a process with NODE_ENV=production and no HYPERID_API_URL', () => {
  it.each([
    ['unset', undefined],
    ['blank', ''],
    ['only spaces', '   '],
  ])(
    'HYPERID_API_URL %s: exits non-zero naming the variable, opening no port',
    async (_, apiUrl) => {
      const port = await freePort();
      const env = sampleEnv({ PORT: String(port), NODE_ENV: 'production' });
      if (apiUrl !== undefined) env.HYPERID_API_URL = apiUrl;
      const child = spawn(process.execPath, ['--import', reportListen, mainJs], {
        cwd: repoRoot,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      // A sample that starts anyway never exits by itself: stop it, and let the checks below fail.
      const stopper = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code, signal] = await exited.finally(() => clearTimeout(stopper));

      expect({ code, signal }).toEqual({ code: 1, signal: null });
      expect(stderr).toContain('HYPERID_API_URL');
      expect(stderr).toContain('refusing to start');
      expect(stderr).not.toContain(LISTEN_MARK);
      expect(stdout + stderr).not.toContain('Listening on');
      expect(stdout + stderr).not.toContain('DEMO MODE');
    },
    30_000,
  );
});
