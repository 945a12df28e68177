import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Repository root (this file lives in test/support/). */
export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

const LOCK_STALE_MS = 180_000;
const POLL_MS = 200;

let inProcess: Promise<string> | undefined;

/**
 * Packs the package with `npm pack` and returns the absolute path of the tarball.
 *
 * Packs once per distinct build: the tarball is keyed by a digest of `package.json` and every file
 * under `dist/`, so all jest workers of one run (and later runs over the same build) share a single
 * `npm pack`. A lock directory in the OS temp dir serialises workers that ask at the same moment.
 * Requires `npm run build` to have run (`npm test` does it in `pretest`).
 */
export function packTarball(): Promise<string> {
  inProcess ??= packOnce().catch((err: unknown) => {
    inProcess = undefined;
    throw err;
  });
  return inProcess;
}

async function packOnce(): Promise<string> {
  for (const entry of [
    'dist/index.js',
    'dist/index.d.ts',
    'dist/testing/index.js',
    'dist/testing/index.d.ts',
  ]) {
    if (!existsSync(join(repoRoot, entry))) {
      throw new Error(`packTarball: ${entry} is missing; run "npm run build" first`);
    }
  }
  const key = await buildDigest();
  const dir = join(tmpdir(), 'nestjs-hyperid-pack', key);
  const marker = join(dir, 'tarball.txt');
  const lock = join(dir, 'lock');
  await mkdir(dir, { recursive: true });

  for (;;) {
    const done = await readMarker(marker);
    if (done) return done;
    try {
      await mkdir(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = Date.now() - (await stat(lock).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs;
      if (age > LOCK_STALE_MS) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, POLL_MS));
      continue;
    }
    try {
      const again = await readMarker(marker);
      if (again) return again;
      // Scripts are skipped so a future prepack/prepare cannot rebuild dist/ under other workers.
      const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
        cwd: repoRoot,
        maxBuffer: 16 * 1024 * 1024,
      });
      const [info] = JSON.parse(stdout) as Array<{ filename: string }>;
      const tarball = join(dir, info.filename);
      if (!existsSync(tarball)) throw new Error(`packTarball: npm pack did not write ${tarball}`);
      const tmp = `${marker}.${process.pid}`;
      await writeFile(tmp, tarball);
      await rename(tmp, marker);
      return tarball;
    } finally {
      await rm(lock, { recursive: true, force: true });
    }
  }
}

async function readMarker(marker: string): Promise<string | undefined> {
  try {
    const path = (await readFile(marker, 'utf8')).trim();
    return path && existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

async function buildDigest(): Promise<string> {
  const hash = createHash('sha256');
  hash.update(await readFile(join(repoRoot, 'package.json')));
  for (const file of await listFiles(join(repoRoot, 'dist'))) {
    hash.update(relative(repoRoot, file));
    hash.update('\0');
    hash.update(await readFile(file));
  }
  return hash.digest('hex').slice(0, 16);
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) =>
      e.isDirectory() ? listFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]),
    ),
  );
  return nested.flat().sort();
}
