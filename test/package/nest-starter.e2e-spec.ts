import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { freePort } from '../support/free-port.js';
import { packTarball, repoRoot } from '../support/pack.js';
import {
  addSpecImports,
  assertSucceeded,
  copyStarter,
  declaredTests,
  markedBlock,
  markedBlocks,
  npmRun,
  parseVitest,
  readmeInstallPackages,
  runCommand,
  startBuiltApp,
  starterTemplate,
  STARTER_CLI_RANGE,
  type CommandResult,
} from '../support/starter-app.js';
import { get, readJson, requiredPeers, type Answer } from '../support/user-app.js';

// A newcomer's path, with nothing but the README: `nest new` (the official starter of
// @nestjs/cli 12: ESM, vitest, oxlint), the README's install command with the packed tarball, the
// README's marked code blocks pasted where it says, and then the starter's own scripts. The
// generated starter is cached outside the repository (see starterTemplate()); each run works on a
// fresh copy of it.

const README = join(repoRoot, 'README.md');
const E2E_SPEC = 'test/two-factor.e2e-spec.ts';
const UNIT_SPEC = 'src/app.controller.spec.ts';
// Cold: `nest new` with its npm install (half a minute to a few), then every script; cached, under a
// minute.
const SETUP_TIMEOUT_MS = 20 * 60_000;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** 'exit 0', or the exit code and the output, so a failure shows what the command printed. */
function exitOf(result: CommandResult): string {
  return result.code === 0 ? 'exit 0' : `exit ${result.code}:\n${result.output}`;
}

describe(`the README in the official Nest starter (@nestjs/cli@${STARTER_CLI_RANGE})`, () => {
  let dir: string | undefined;
  let tarball: string;
  let e2eBlock: string;
  let unitSpec: string;
  let testWithoutTestingModule: CommandResult;
  let build: CommandResult;
  let unitTests: CommandResult;
  let e2eTests: CommandResult;
  let lint: CommandResult;
  let served: { root: Answer; account: Answer } | Error;

  beforeAll(async () => {
    const timings: Record<string, number> = {};
    const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings[phase] = Date.now() - started;
      }
    };

    // Every block first, so a missing marker fails at once rather than after the generation.
    const readme = await readFile(README, 'utf8');
    const blocks = markedBlocks(readme);
    const appModule = markedBlock(blocks, 'starter-app-module');
    const appController = markedBlock(blocks, 'starter-app-controller');
    const specImports = markedBlock(blocks, 'controller-spec-imports');
    e2eBlock = markedBlock(blocks, 'vitest-e2e');
    const packages = readmeInstallPackages(readme);

    tarball = await timed('pack', () => packTarball());
    const template = await starterTemplate();
    timings[template.cached ? 'starter (cached)' : 'nest new + npm install'] = template.ms;
    dir = await timed('copy', () => copyStarter(template.dir));
    const app = dir;

    // The README's install command, with the packed tarball in place of the registry's package.
    const installArgs = packages.map((name) => (name === 'nestjs-hyperid' ? tarball : name));
    const install = await timed('npm install', () =>
      runCommand('npm', ['install', ...installArgs, '--no-audit', '--no-fund', '--prefer-offline'], app),
    );
    assertSucceeded(`npm install ${installArgs.join(' ')}`, install);

    await writeFile(join(app, 'src', 'app.module.ts'), appModule);
    await writeFile(join(app, 'src', 'app.controller.ts'), appController);
    await writeFile(join(app, E2E_SPEC), e2eBlock);
    testWithoutTestingModule = await timed('npm test (before)', () => npmRun(app, 'test'));

    const specPath = join(app, UNIT_SPEC);
    unitSpec = addSpecImports(await readFile(specPath, 'utf8'), specImports);
    await writeFile(specPath, unitSpec);

    build = await timed('npm run build', () => npmRun(app, 'build'));
    served = await timed('node dist/main', async () => {
      if (build.code !== 0) return new Error('not built');
      try {
        const started = await startBuiltApp(app, await freePort());
        try {
          return { root: await get(`${started.url}/`), account: await get(`${started.url}/account`) };
        } finally {
          await started.stop();
        }
      } catch (error) {
        return error as Error;
      }
    });
    unitTests = await timed('npm test', () => npmRun(app, 'test'));
    e2eTests = await timed('npm run test:e2e', () => npmRun(app, 'test:e2e'));
    lint = await timed('npm run lint', () => npmRun(app, 'lint'));

    const seconds = Object.entries(timings).map(([phase, ms]) => `${phase} ${(ms / 1000).toFixed(1)} s`);
    console.info(`nest starter (@nestjs/cli ${template.cliVersion}): ${seconds.join(', ')}`);
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("installs the packed tarball and every required peer with the README's install command", async () => {
    const pkg = await readJson<{ dependencies: Record<string, string> }>(join(dir!, 'package.json'));
    expect(pkg.dependencies['nestjs-hyperid']).toMatch(
      new RegExp(`^file:.*/${escapeRegExp(basename(tarball))}$`),
    );
    // Required peers are the starter's own dependencies or named by the README's command.
    const peers = await requiredPeers();
    expect(peers.length).toBeGreaterThan(0);
    expect(peers.filter((peer) => pkg.dependencies[peer] === undefined)).toEqual([]);
  });

  it("fails the starter's unit test, as the README warns, until the spec imports the testing module", () => {
    expect(testWithoutTestingModule.code).not.toBe(0);
    expect(testWithoutTestingModule.output).toContain(
      "Nest can't resolve dependencies of the TwoFactorGuard",
    );
  });

  it('builds with npm run build', () => {
    expect(exitOf(build)).toBe('exit 0');
  });

  it('serves GET / and answers GET /account without a token 401 once built', () => {
    if (served instanceof Error) throw served;
    expect(served.root.status).toBe(200);
    expect(served.root.body).toBe('Hello World!');
    expect(served.account.status).toBe(401);
    expect(served.account.headers['www-authenticate']).toMatch(/^Bearer /);
  });

  it('passes npm test with the testing module imported in the controller spec', () => {
    expect(exitOf(unitTests)).toBe('exit 0');
    const run = parseVitest(unitTests.output);
    const declared = declaredTests(unitSpec);
    expect(declared).toBeGreaterThan(0);
    expect(run.files.get(UNIT_SPEC)).toBe(declared);
    expect(run.tests).toBe(`${declared} passed (${declared})`);
  });

  it("runs the README's e2e spec with npm run test:e2e, every test of it passing", () => {
    expect(exitOf(e2eTests)).toBe('exit 0');
    const run = parseVitest(e2eTests.output);
    const declared = declaredTests(e2eBlock);
    expect(declared).toBeGreaterThan(0);
    expect(run.files.get(E2E_SPEC)).toBe(declared);
    const total = [...run.files.values()].reduce((sum, count) => sum + count, 0);
    expect(run.tests).toBe(`${total} passed (${total})`);
  });

  it('passes npm run lint without a warning', () => {
    expect(exitOf(lint)).toBe('exit 0');
    expect(lint.output).toMatch(/Found 0 warnings and 0 errors/);
  });
});
