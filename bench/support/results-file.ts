// RESULTS.md is written by two scripts: `npm run bench` (the figures) and `npm run soak` (its
// own section). Each replaces only its part, so running one keeps the other's last figures.
import { readFile, writeFile } from 'node:fs/promises';

// Compiled to dist-bench/bench/support/: RESULTS.md is the one in bench/, next to the sources.
const RESULTS = new URL('../../../bench/RESULTS.md', import.meta.url);

const start = (name: string) => `<!-- ${name}:start -->`;
const end = (name: string) => `<!-- ${name}:end -->`;

/** Replaces the section `name` of RESULTS.md with `markdown` (appended when it is not there yet). */
export async function writeResultsSection(name: string, markdown: string): Promise<void> {
  const current = await readFile(RESULTS, 'utf8').catch(() => '');
  const block = `${start(name)}\n\n${markdown.trim()}\n\n${end(name)}`;
  const from = current.indexOf(start(name));
  const to = current.indexOf(end(name));
  const next =
    from !== -1 && to > from
      ? current.slice(0, from) + block + current.slice(to + end(name).length)
      : `${current.trimEnd()}\n\n${block}\n`;
  await writeFile(RESULTS, next.trimStart());
}
