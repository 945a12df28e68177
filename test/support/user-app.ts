import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FakeHyperIdFault, FakeTokenAnswer } from '../../lib/testing/index.js';
import { packTarball, repoRoot } from './pack.js';

// Install-as-a-user helpers shared by the tarball specs: a fresh app made from a fixture directory,
// the packed tarball and the peers a user installs, compiled with its own tsc and spawned as a
// child process that prints one `READY <json>` line once it listens.

export const run = promisify(execFile);

export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** The version installed in the repository (so `npm install --prefer-offline` finds it cached). */
export async function installedVersion(name: string): Promise<string> {
  return (await readJson<{ version: string }>(join(repoRoot, 'node_modules', name, 'package.json'))).version;
}

/** The environment of the user app's processes: without the `NODE_OPTIONS` jest runs under. */
export function userEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

export interface UserAppSetup {
  /** Fixture directory under test/package/fixtures/ (copied as is: tsconfig.json, src/). */
  fixture: string;
  /** `name` of the app's package.json; also the prefix of the temp directory. */
  name: string;
  /** Absolute path of the packed tarball (see `packTarball()`). */
  tarball: string;
  /** Installed at `^<version in the repository>`. */
  dependencies: readonly string[];
  /** Installed at `~<version in the repository>`. */
  devDependencies: readonly string[];
}

/**
 * Makes the user app in a fresh temp directory: copies the fixture, writes package.json (the
 * tarball plus the given packages), runs `npm install` and compiles with the app's own tsc.
 * Returns the directory; the caller removes it.
 */
export async function createUserApp(setup: UserAppSetup): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `nestjs-hyperid-${setup.name}-`));
  try {
    await cp(join(repoRoot, 'test', 'package', 'fixtures', setup.fixture), dir, { recursive: true });
    await writeUserPackageJson(dir, setup);
    await npmInstall(dir);
    await compileUserApp(dir);
    return dir;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function writeUserPackageJson(dir: string, setup: UserAppSetup): Promise<void> {
  const dependencies: Record<string, string> = { 'nestjs-hyperid': `file:${setup.tarball}` };
  for (const name of setup.dependencies) dependencies[name] = `^${await installedVersion(name)}`;
  const devDependencies: Record<string, string> = {};
  for (const name of setup.devDependencies) devDependencies[name] = `~${await installedVersion(name)}`;
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify(
      {
        name: setup.name,
        private: true,
        type: 'module',
        scripts: { build: 'tsc -p tsconfig.json' },
        dependencies,
        devDependencies,
      },
      null,
      2,
    ),
  );
}

async function npmInstall(dir: string): Promise<void> {
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    env: userEnv(),
    maxBuffer: 16 * 1024 * 1024,
  });
}

async function compileUserApp(dir: string): Promise<void> {
  try {
    await run(
      process.execPath,
      [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
      {
        cwd: dir,
        env: userEnv(),
      },
    );
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(
      `the user app does not compile against the packed types:\n${stdout ?? ''}${stderr ?? ''}`,
      {
        cause: error,
      },
    );
  }
}

export interface RunningUserApp<Ready> {
  child: ChildProcess;
  /** Resolves with `[code, signal]` once the child exits. */
  exit: Promise<unknown[]>;
  /** The JSON of the child's `READY` line. */
  ready: Ready;
  /** SIGTERM (when still running) and wait for the exit. */
  stop(): Promise<void>;
}

/** Spawns `node <script>` in the user app and waits for its `READY <json>` line. */
export async function startUserApp<Ready>(
  dir: string,
  script = 'dist/serve.js',
): Promise<RunningUserApp<Ready>> {
  const child = spawn(process.execPath, [script], {
    cwd: dir,
    env: userEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = once(child, 'exit');
  let output = '';
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = /^READY (.*)$/m.exec(output);
      if (line) resolve(JSON.parse(line[1]) as Ready);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`user app exited (code ${code}):\n${output}`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exit;
    }
  };
  return { child, exit, ready, stop };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request (fetch would trim a header value such as `Bearer `). */
export function request(
  method: string,
  url: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers };
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(options.body));
    }
    const req = httpRequest(url, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A raw HTTP GET, with an `Authorization` header when given. */
export function get(url: string, authorization?: string): Promise<Answer> {
  return request('GET', url, { headers: authorization === undefined ? {} : { authorization } });
}

interface RootPackageJson {
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

/** The peer dependencies of package.json a user must install (the optional ones left out). */
export async function requiredPeers(): Promise<string[]> {
  const pkg = await readJson<RootPackageJson>(join(repoRoot, 'package.json'));
  return Object.keys(pkg.peerDependencies ?? {}).filter(
    (name) => !pkg.peerDependenciesMeta?.[name]?.optional,
  );
}

/**
 * Makes the user app of `fixture` (named after it) with the packed tarball, every required peer
 * and both HTTP platforms, and starts it. The caller stops the app and removes `dir`.
 */
export async function startPlatformsApp<Ready>(
  fixture: string,
): Promise<{ dir: string; app: RunningUserApp<Ready> }> {
  const dir = await createUserApp({
    fixture,
    name: fixture,
    tarball: await packTarball(),
    dependencies: [...(await requiredPeers()), '@nestjs/platform-express', '@nestjs/platform-fastify'],
    devDependencies: ['typescript', '@types/node'],
  });
  try {
    return { dir, app: await startUserApp<Ready>(dir) };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** One call on a fixture's control channel (its src/control.ts); fails on anything but 200. */
export type Control = (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<unknown>;

/** The control channel at the URL `baseUrl()` gives (known once the app is ready). */
export function controlChannel(baseUrl: () => string): Control {
  return async (method, path, body) => {
    const res = await request(method, `${baseUrl()}${path}`, {
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status !== 200) throw new Error(`control ${method} ${path}: ${res.status} ${res.body}`);
    return JSON.parse(res.body);
  };
}

/**
 * The fake HyperID named `fake` in the user app, driven through its control channel: the same
 * operations as `FakeHyperIdServer`'s, without the driver importing the package.
 */
export function fakeControl(control: Control, fake: string) {
  return {
    setToken: (token: string, answer: FakeTokenAnswer) =>
      control('POST', `/fake/${fake}/token`, { token, answer }),
    /** A fault for `token`, or for every token when no token is given. */
    fault: (fault: FakeHyperIdFault, token?: string) =>
      control('POST', `/fake/${fake}/fault`, { fault, token }),
    clearFaults: () => control('POST', `/fake/${fake}/clear-faults`),
    /** Calls for `token`, or all calls when no token is given. */
    calls: async (token?: string) => {
      const query = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
      return ((await control('GET', `/fake/${fake}/calls${query}`)) as { calls: number }).calls;
    },
    /** Calls for each of `tokens`, in order (the trust-app fixture's channel only). */
    callsOf: async (tokens: readonly string[]) =>
      ((await control('POST', `/fake/${fake}/calls`, { tokens })) as { calls: number[] }).calls,
  };
}
