import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markedReadmeBlock } from './doc-blocks.js';

/**
 * Code blocks of the docs, written out as modules of their own for a suite to import and run as a
 * user would paste them: inside the repository (test/package/.tmp/, git-ignored), so that
 * 'nestjs-hyperid' resolves to the built dist/ through the package's exports map.
 */
export class DocModules {
  /** The folder of this suite's modules; one per suite and process. */
  readonly dir: string;

  constructor(name: string) {
    this.dir = fileURLToPath(new URL(`../package/.tmp/${name}-${process.pid}/`, import.meta.url));
  }

  /**
   * Writes the block of `markdownFile` (a path from the repository's root) marked
   * `<!-- readme-test: marker -->` to `fileName`, and returns the module's path.
   */
  async write(markdownFile: string, marker: string, fileName: string): Promise<string> {
    const markdown = await readFile(new URL(`../../${markdownFile}`, import.meta.url), 'utf8');
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, fileName);
    await writeFile(file, markedReadmeBlock(markdown, marker));
    return file;
  }

  /** Removes this suite's modules, and the shared folder when no other run still uses it. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
    await rmdir(dirname(this.dir)).catch(() => undefined);
  }
}
