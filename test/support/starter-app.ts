import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { get, userEnv } from './user-app.js';

// The official Nest starter (`nest new`) as a newcomer gets it, for the README walk-through test:
// generated once per CLI version into a cache outside the repository (with its `npm install`),
// then copied into a fresh directory for each run.

const execFileAsync = promisify(execFile);

/** The major version of `@nestjs/cli` whose starter the README is checked against. */
export const STARTER_CLI_RANGE = '12';

/** The name given to `nest new` (the app's folder and package name). */
const STARTER_NAME = 'starter-app';

/** `nest new` without prompts: npm, no git repository, strict TypeScript, no observability. */
const GENERATOR_ARGS = [
  'new',
  STARTER_NAME,
  '--package-manager',
  'npm',
  '--skip-git',
  '--language',
  'TypeScript',
  '--strict',
  '--no-observe',
] as const;

const GENERATE_TIMEOUT_MS = 15 * 60_000;
const STALE_TMP_MS = 60 * 60_000;

/** The environment of the starter's commands: no jest `NODE_OPTIONS`, no real HyperID address. */
export function starterEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...userEnv(), ...extra };
  if (!('HYPERID_API_URL' in extra)) delete env.HYPERID_API_URL;
  return env;
}

export interface CommandResult {
  /** The exit code (non-zero also when the command was killed). */
  code: number;
  /** stdout then stderr, without ANSI colours. */
  output: string;
  stdout: string;
  ms: number;
}

/** Runs a command to its end and reports how it ended; never throws for a non-zero exit. */
export async function runCommand(
  command: string,
  args: readonly string[],
  cwd: string,
  timeoutMs = 10 * 60_000,
): Promise<CommandResult> {
  const started = Date.now();
  try {
    const { stdout, stderr } = await execFileAsync(command, args, {
      cwd,
      env: starterEnv(),
      maxBuffer: 64 * 1024 * 1024,
      timeout: timeoutMs,
    });
    return { code: 0, output: stripAnsi(`${stdout}${stderr}`), stdout, ms: Date.now() - started };
  } catch (error) {
    const { code, stdout, stderr, signal } = error as {
      code?: number | string;
      stdout?: string;
      stderr?: string;
      signal?: string;
    };
    if (stdout === undefined && stderr === undefined) throw error; // could not start at all
    const exit = typeof code === 'number' ? code : 1;
    const killed = signal ? `\n[killed by ${signal} after ${timeoutMs} ms]` : '';
    return {
      code: exit === 0 ? 1 : exit,
      output: stripAnsi(`${stdout ?? ''}${stderr ?? ''}${killed}`),
      stdout: stdout ?? '',
      ms: Date.now() - started,
    };
  }
}

/** Runs an npm script of the app (`npm run <script>`), as a user types it. */
export function npmRun(dir: string, script: string): Promise<CommandResult> {
  return runCommand('npm', ['run', script], dir);
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

/** Throws with the command's output unless it exited 0. */
export function assertSucceeded(what: string, result: CommandResult): void {
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit code ${result.code}):\n${result.output}`);
  }
}

export interface StarterTemplate {
  /** The pristine generated app, its node_modules installed: copy it, never change it. */
  dir: string;
  cliVersion: string;
  /** False when this call generated it (`nest new` and its `npm install`). */
  cached: boolean;
  /** Time this call spent resolving the CLI version and, when not cached, generating. */
  ms: number;
}

/** The newest `@nestjs/cli` version in `range`, asked from the npm registry. */
async function resolveCliVersion(range: string): Promise<string> {
  const result = await runCommand('npm', ['view', `@nestjs/cli@${range}`, 'version', '--json'], tmpdir());
  assertSucceeded(`npm view @nestjs/cli@${range} version`, result);
  const parsed = JSON.parse(result.stdout) as string | string[];
  const versions = (Array.isArray(parsed) ? parsed : [parsed]).filter((v) => /^\d+\.\d+\.\d+$/.test(v));
  if (versions.length === 0) throw new Error(`no release of @nestjs/cli@${range}: ${result.output}`);
  const numeric = (v: string) => v.split('.').map(Number);
  return versions.sort((a, b) => {
    const [x, y] = [numeric(a), numeric(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  })[versions.length - 1];
}

/** Where the generated starters are kept: outside the repository, shared by runs on this machine. */
function cacheRoot(): string {
  return join(process.env.XDG_CACHE_HOME || tmpdir(), 'nestjs-hyperid-starter');
}

/**
 * The starter app generated by `npx @nestjs/cli@<version> new`, from the cache when an earlier run
 * made it. Keyed by the CLI version, the generator's arguments, the Node major version and the
 * platform (the starter's tools ship native binaries). A generation goes to a temporary folder
 * that is renamed into place once complete, so concurrent runs never see half an app.
 */
export async function starterTemplate(): Promise<StarterTemplate> {
  const started = Date.now();
  const cliVersion = await resolveCliVersion(STARTER_CLI_RANGE);
  const optionsHash = createHash('sha256')
    .update(
      JSON.stringify({
        args: GENERATOR_ARGS,
        node: process.versions.node.split('.')[0],
        platform: process.platform,
        arch: process.arch,
      }),
    )
    .digest('hex')
    .slice(0, 12);
  const root = cacheRoot();
  const key = `cli-${cliVersion}-${optionsHash}`;
  const final = join(root, key);
  const appDir = join(final, STARTER_NAME);
  if (isCompleteStarter(appDir)) return { dir: appDir, cliVersion, cached: true, ms: Date.now() - started };

  await mkdir(root, { recursive: true });
  await removeStaleTemporaries(root);
  const tmp = await mkdtemp(join(root, `${key}.tmp-`));
  try {
    const generated = await runCommand(
      'npx',
      ['--yes', `@nestjs/cli@${cliVersion}`, ...GENERATOR_ARGS],
      tmp,
      GENERATE_TIMEOUT_MS,
    );
    assertSucceeded(`npx @nestjs/cli@${cliVersion} ${GENERATOR_ARGS.join(' ')}`, generated);
    if (!isInstalledApp(join(tmp, STARTER_NAME))) {
      throw new Error(`nest new did not produce an installed app:\n${generated.output}`);
    }
    await writeFile(
      join(tmp, 'generated.json'),
      JSON.stringify({ cliVersion, args: GENERATOR_ARGS, ms: generated.ms, at: new Date().toISOString() }),
    );
    // Another run may have put its own generation in place meanwhile: keep that one, and only
    // replace a leftover that is not complete.
    if (!isCompleteStarter(appDir)) {
      await rm(final, { recursive: true, force: true });
      try {
        await rename(tmp, final);
      } catch (error) {
        if (!isCompleteStarter(appDir)) throw error;
      }
    }
    return { dir: appDir, cliVersion, cached: false, ms: Date.now() - started };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A generated app whose install went through (its test runner and CLI are in node_modules). */
function isInstalledApp(appDir: string): boolean {
  return (
    existsSync(join(appDir, 'package.json')) &&
    existsSync(join(appDir, 'node_modules', '.bin', 'vitest')) &&
    existsSync(join(appDir, 'node_modules', '.bin', 'nest'))
  );
}

/** A cached generation: installed, and renamed into place only once complete (generated.json). */
function isCompleteStarter(appDir: string): boolean {
  return isInstalledApp(appDir) && existsSync(join(appDir, '..', 'generated.json'));
}

async function removeStaleTemporaries(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    if (!name.includes('.tmp-')) continue;
    const path = join(root, name);
    const age = Date.now() - (await stat(path).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
    if (age > STALE_TMP_MS) await rm(path, { recursive: true, force: true });
  }
}

/** A fresh copy of the pristine starter (node_modules included) in a new temp directory. */
export async function copyStarter(template: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nestjs-hyperid-starter-run-'));
  try {
    // cp -a keeps node_modules/.bin's symlinks and the executable bits, and is far faster than fs.cp.
    const copied = await runCommand('cp', ['-a', `${template}/.`, dir], tmpdir());
    assertSucceeded('copying the starter', copied);
    return dir;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The README's code blocks marked `<!-- readme-test: NAME -->`, by NAME. */
export function markedBlocks(readme: string): Map<string, string> {
  const blocks = new Map<string, string>();
  const marked =
    /^<!--\s*readme-test:\s*([\w-]+)\s*-->[ \t]*\r?\n(`{3,}|~{3,})[^\n]*\n([\s\S]*?)^\2[ \t]*$/gm;
  for (const [, name, , content] of readme.matchAll(marked)) {
    if (blocks.has(name)) throw new Error(`README.md marks two code blocks "readme-test: ${name}"`);
    blocks.set(name, content.replace(/\r?\n$/, '\n'));
  }
  return blocks;
}

/** The marked block `name`, or a clear failure naming the missing marker. */
export function markedBlock(blocks: Map<string, string>, name: string): string {
  const block = blocks.get(name);
  if (block === undefined) {
    throw new Error(
      `README.md has no code block marked <!-- readme-test: ${name} --> (the marker line must come ` +
        `right before the fenced block); found: ${[...blocks.keys()].join(', ') || 'none'}`,
    );
  }
  return block;
}

/** The package arguments of the `npm install nestjs-hyperid ...` command in README's Install section. */
export function readmeInstallPackages(readme: string): string[] {
  const section = /^## Install[ \t]*\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Install" section');
  const command = /^npm install (nestjs-hyperid(?: [^\s#]+)*)/m.exec(section)?.[1];
  if (command === undefined) {
    throw new Error('the Install section of README.md has no "npm install nestjs-hyperid ..." line');
  }
  return command.split(' ');
}

/**
 * Adds the README's two-line `controller-spec-imports` block to the starter's controller spec: its
 * import statement at the top of the file, its `imports: [...]` line as the first property of the
 * `Test.createTestingModule({` call.
 */
export function addSpecImports(spec: string, block: string): string {
  const lines = block.split('\n').filter((line) => line.trim() !== '');
  const importLines = lines.filter((line) => /^import\s/.test(line.trim()));
  const importsProperty = lines.filter((line) => /^imports\s*:/.test(line.trim()));
  if (importLines.length !== 1 || importsProperty.length !== 1 || lines.length !== 2) {
    throw new Error(
      `the controller-spec-imports block should be one import statement and one "imports: [...]," ` +
        `line, not:\n${block}`,
    );
  }
  const anchor = /^([ \t]*)(.*Test\.createTestingModule\(\{)[ \t]*\n([ \t]*)/m.exec(spec);
  if (anchor === null) {
    throw new Error(`the starter's controller spec has no "Test.createTestingModule({" line:\n${spec}`);
  }
  const indent = anchor[3];
  const at = anchor.index + anchor[0].length - indent.length;
  const withProperty = `${spec.slice(0, at)}${indent}${importsProperty[0].trim()}\n${spec.slice(at)}`;
  return `${importLines[0].trim()}\n${withProperty}`;
}

/** How many tests a spec file declares (`it(...)` and `test(...)` calls, modifiers included). */
export function declaredTests(source: string): number {
  return [...source.matchAll(/^\s*(?:it|test)(?:\.\w+)*\s*\(/gm)].length;
}

export interface VitestRun {
  /** `<file> (N tests...)` lines of the default reporter: the number of tests run per file. */
  files: Map<string, number>;
  /** The "Tests" summary line, e.g. `4 passed (4)`. */
  tests: string | undefined;
}

/** Reads vitest's default reporter output. */
export function parseVitest(output: string): VitestRun {
  const files = new Map<string, number>();
  for (const [, file, count] of output.matchAll(/^\s*\S+\s+(\S+\.ts)\s+\((\d+) tests?\b/gm)) {
    files.set(file, Number(count));
  }
  const tests = /^\s*Tests\s+(.+?)\s*$/m.exec(output)?.[1];
  return { files, tests };
}

export async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8');
}

export interface BuiltApp {
  url: string;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts the built app as the starter's `start:prod` script does (`node dist/main`), on a free
 * loopback port, and waits until it answers HTTP.
 */
export async function startBuiltApp(dir: string, port: number, timeoutMs = 60_000): Promise<BuiltApp> {
  const child = spawn(process.execPath, ['dist/main'], {
    cwd: dir,
    env: starterEnv({ PORT: String(port) }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the built app exited (code ${child.exitCode}):\n${stripAnsi(output)}`);
    }
    const up = await get(`${url}/`).then(
      () => true,
      () => false,
    );
    if (up) return { url, output: () => stripAnsi(output), stop };
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the built app did not answer on ${url} within ${timeoutMs} ms:\n${stripAnsi(output)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
