import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { fencedBlocks, headingAnchors, markdownLinks, type DocBlock } from '../support/doc-blocks.js';

// Every TypeScript block of README.md and docs/*.md is type-checked as a module of its own, against
// the built dist/ types ('nestjs-hyperid' resolves to this package through its exports map, since the
// modules are written inside the repository). Blocks marked <!-- not-compiled --> are skipped. The
// README's quick-start blocks are compiled together as the `nest new` starter's files; running them
// in a real starter is test/package/nest-starter.e2e-spec.ts's job.

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TMP_ROOT = join(ROOT, 'test/package/.tmp');
const TMP = join(TMP_ROOT, `doc-blocks-${process.pid}`);

/** The Markdown files whose blocks users paste, relative to the repository. */
async function docFiles(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((name) => name.endsWith('.md')).sort();
  return ['README.md', ...docs.map((name) => `docs/${name}`)];
}

/** Where the starter blocks go, as the README tells a user to paste them into a `nest new` app. */
const STARTER_FILES: Record<string, string> = {
  'starter-app-module': 'src/app.module.ts',
  'starter-app-controller': 'src/app.controller.ts',
  'vitest-e2e': 'test/two-factor.e2e-spec.ts',
};

/** The starter's own files the README's blocks build on, as `nest new` (CLI 12) writes them. */
const STARTER_APP_SERVICE = `import { Injectable } from '@nestjs/common';

@Injectable()
export class AppService {
  getHello(): string {
    return 'Hello World!';
  }
}
`;

const STARTER_CONTROLLER_SPEC = `import { Test, TestingModule } from '@nestjs/testing';
import { AppController } from './app.controller.js';
import { AppService } from './app.service.js';

describe('AppController', () => {
  let appController: AppController;

  beforeEach(async () => {
    const app: TestingModule = await Test.createTestingModule({
      controllers: [AppController],
      providers: [AppService],
    }).compile();

    appController = app.get<AppController>(AppController);
  });

  describe('root', () => {
    it('should return "Hello World!"', () => {
      expect(appController.getHello()).toBe('Hello World!');
    });
  });
});
`;

/** vitest is not installed here: its API, typed as jest's, for the starter's tests. */
const VITEST_MODULE = `declare module 'vitest' {
  import type * as jest from '@jest/globals';
  export const describe: typeof jest.describe;
  export const it: typeof jest.it;
  export const expect: typeof jest.expect;
  export const beforeAll: typeof jest.beforeAll;
  export const afterAll: typeof jest.afterAll;
  export const beforeEach: typeof jest.beforeEach;
  export const afterEach: typeof jest.afterEach;
}
`;

/** The starter's tsconfig has `"types": ["vitest/globals"]`: the same globals. */
const VITEST_GLOBALS = `import type * as jest from '@jest/globals';
declare global {
  const describe: typeof jest.describe;
  const it: typeof jest.it;
  const expect: typeof jest.expect;
  const beforeEach: typeof jest.beforeEach;
}
export {};
`;

/** The README's two-line block added to the starter's spec, as the README says: import + `imports:`. */
function withSpecImports(spec: string, block: string): string {
  const lines = block.split('\n').filter((line) => line.trim() !== '');
  const importLine = lines.find((line) => line.startsWith('import '));
  const importsLine = lines.find((line) => line.trim().startsWith('imports:'));
  if (lines.length !== 2 || !importLine || !importsLine) {
    throw new Error(`controller-spec-imports should be an import and an "imports: [...]," line:\n${block}`);
  }
  const anchor = 'Test.createTestingModule({\n';
  if (!spec.includes(anchor)) throw new Error('the starter spec has no Test.createTestingModule({');
  return `${importLine}\n${spec.replace(anchor, `${anchor}      ${importsLine.trim()}\n`)}`;
}

/** A module written from a block, and where its lines come from. */
interface Written {
  path: string;
  doc: string;
  block: DocBlock;
  /** Lines added before the block's own (e.g. by withSpecImports), not found in the doc. */
  shift: number;
}

/** A file name for a block: its `// name.ts` first line, else its line; never a name jest would run. */
function moduleName(block: DocBlock): string {
  const named = /^\/\/ ([\w.-]+\.ts)\s*$/m.exec(block.content.split('\n')[0])?.[1];
  const name = named ?? `block-line-${block.line}.ts`;
  return name.replace(/\.(spec|e2e-spec)\.ts$/, '.$1.block.ts');
}

afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
  await rmdir(TMP_ROOT).catch(() => undefined); // left when another run still uses it
});

describe('code blocks of README.md and docs/', () => {
  it('all type-check against the built package', async () => {
    if (!existsSync(join(ROOT, 'dist/index.d.ts')))
      throw new Error('dist/ is missing: run "npm run build" first');
    await rm(TMP, { recursive: true, force: true });
    const written: Written[] = [];
    const write = async (path: string, content: string, source?: Omit<Written, 'path'>) => {
      await mkdir(dirname(path), { recursive: true });
      if (existsSync(path)) throw new Error(`two blocks write ${relative(ROOT, path)}`);
      await writeFile(path, content);
      if (source) written.push({ path, ...source });
    };

    const starter = join(TMP, 'starter');
    await write(join(starter, 'src/app.service.ts'), STARTER_APP_SERVICE);
    await write(join(starter, 'vitest.d.ts'), VITEST_MODULE);
    await write(join(starter, 'vitest-globals.d.ts'), VITEST_GLOBALS);
    let compiled = 0;

    for (const doc of await docFiles()) {
      const markdown = await readFile(join(ROOT, doc), 'utf8');
      for (const block of fencedBlocks(markdown)) {
        if (!['ts', 'typescript'].includes(block.lang) || block.notCompiled) continue;
        compiled++;
        const source = { doc, block, shift: 0 };
        if (block.marker === 'controller-spec-imports') {
          const spec = withSpecImports(STARTER_CONTROLLER_SPEC, block.content);
          await write(join(starter, 'src/app.controller.spec.block.ts'), spec, { ...source, shift: 1 });
        } else if (block.marker && block.marker in STARTER_FILES) {
          const file = STARTER_FILES[block.marker].replace(/\.(spec|e2e-spec)\.ts$/, '.$1.block.ts');
          await write(join(starter, file), block.content, source);
        } else {
          const folder = join(TMP, doc.replace(/\.md$/, '').replace(/[/.]/g, '_'));
          await write(join(folder, moduleName(block)), block.content, source);
        }
      }
    }
    expect(compiled).toBeGreaterThan(20);
    for (const marker of [...Object.keys(STARTER_FILES), 'controller-spec-imports']) {
      expect(written.some((entry) => entry.block.marker === marker)).toBe(true);
    }

    const config = ts.getParsedCommandLineOfConfigFile(
      join(ROOT, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
        },
      },
    );
    if (!config) throw new Error('tsconfig.json could not be read');
    const options: ts.CompilerOptions = {
      ...config.options,
      noEmit: true,
      declaration: false,
      sourceMap: false,
      incremental: false,
      rootDir: undefined,
      outDir: undefined,
    };
    const roots = [
      ...written.map((entry) => entry.path),
      join(starter, 'vitest.d.ts'),
      join(starter, 'vitest-globals.d.ts'),
    ];
    const program = ts.createProgram(roots, options);
    const problems = ts
      .getPreEmitDiagnostics(program)
      .filter((diagnostic) => diagnostic.file?.fileName.startsWith(TMP))
      .map((diagnostic) => {
        const file = diagnostic.file!;
        const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        const entry = written.find((candidate) => resolve(candidate.path) === resolve(file.fileName));
        const where = entry
          ? `${entry.doc}:${entry.block.line + 1 + line - entry.shift}`
          : relative(ROOT, file.fileName);
        return `${where}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
      });
    expect(problems).toEqual([]);
  }, 180_000);
});

describe('relative links of README.md, docs/ and CONTRIBUTING.md', () => {
  it('point at existing files and headings', async () => {
    const broken: string[] = [];
    const anchorsOf = new Map<string, Set<string>>();
    const anchors = async (path: string) => {
      if (!anchorsOf.has(path)) anchorsOf.set(path, headingAnchors(await readFile(path, 'utf8')));
      return anchorsOf.get(path)!;
    };
    let checked = 0;
    for (const doc of [...(await docFiles()), 'CONTRIBUTING.md']) {
      const markdown = await readFile(join(ROOT, doc), 'utf8');
      for (const { target, line } of markdownLinks(markdown)) {
        if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto:...
        checked++;
        const [path, anchor] = target.split('#', 2);
        const file =
          path === '' ? join(ROOT, doc) : resolve(join(ROOT, dirname(doc)), decodeURIComponent(path));
        if (!file.startsWith(ROOT) || !existsSync(file)) {
          broken.push(`${doc}:${line}: ${target} (no such file)`);
        } else if (anchor !== undefined && statSync(file).isFile() && file.endsWith('.md')) {
          if (!(await anchors(file)).has(anchor)) broken.push(`${doc}:${line}: ${target} (no such heading)`);
        }
      }
    }
    expect(checked).toBeGreaterThan(30);
    expect(broken).toEqual([]);
  });
});

describe('README.md', () => {
  it('stays a few screens long', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    expect(readme.trimEnd().split('\n').length).toBeLessThanOrEqual(350);
  });
});
