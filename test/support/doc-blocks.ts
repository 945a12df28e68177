// Reading the documentation's Markdown for the tests that compile and run its code blocks
// (test/package/doc-blocks.spec.ts, readme-cookie-guard.e2e-spec.ts).

/** One fenced code block of a Markdown file. */
export interface DocBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** First word of the info string (`ts`, `bash`...), or '' when there is none. */
  lang: string;
  /** The block's text, ending with a newline. */
  content: string;
  /** NAME of a `<!-- readme-test: NAME -->` marker right before the block (blank lines and other comments allowed). */
  marker?: string;
  /** Preceded by `<!-- not-compiled -->`: a fragment the compile check skips. */
  notCompiled: boolean;
}

const OPENING_FENCE = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/;
const COMMENT = /^<!--([\s\S]*?)-->$/;

/** Whether `line` closes a block opened by `fence` (the same character, at least as many). */
function closes(line: string, fence: string): boolean {
  const match = /^\s*(`{3,}|~{3,})\s*$/.exec(line);
  return match !== null && match[1][0] === fence[0] && match[1].length >= fence.length;
}

/** The lines of `markdown`, each with the fence of the code block it is in (undefined outside one). */
function linesWithFences(markdown: string): { text: string; fence?: string; opens: boolean }[] {
  let fence: string | undefined;
  return markdown.split(/\r?\n/).map((text) => {
    if (fence === undefined) {
      const open = OPENING_FENCE.exec(text);
      if (open) {
        fence = open[1];
        return { text, fence, opens: true };
      }
      return { text, opens: false };
    }
    const inside = fence;
    if (closes(text, fence)) fence = undefined;
    return { text, fence: inside, opens: false };
  });
}

/** Every fenced code block of `markdown`, with the markers of the comment lines right before it. */
export function fencedBlocks(markdown: string): DocBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPENING_FENCE.exec(lines[i]);
    if (!open) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !closes(lines[j], open[1]); j++) body.push(lines[j]);
    const block: DocBlock = {
      line: i + 1,
      lang: open[2].toLowerCase(),
      content: `${body.join('\n')}\n`,
      notCompiled: false,
    };
    for (let k = i - 1; k >= 0; k--) {
      const line = lines[k].trim();
      if (line === '') continue;
      const comment = COMMENT.exec(line);
      if (!comment) break;
      const text = comment[1].trim();
      if (text === 'not-compiled') block.notCompiled = true;
      const marker = /^readme-test:\s*([\w-]+)$/.exec(text);
      if (marker) block.marker ??= marker[1];
    }
    blocks.push(block);
    i = j;
  }
  return blocks;
}

/** The content of the one block marked `<!-- readme-test: name -->`; throws when there is none or several. */
export function markedReadmeBlock(markdown: string, name: string): string {
  const found = fencedBlocks(markdown).filter((block) => block.marker === name);
  if (found.length !== 1) {
    throw new Error(
      `README.md should have one code block marked <!-- readme-test: ${name} -->, found ${found.length}`,
    );
  }
  return found[0].content;
}

/** A link of a Markdown file: its target as written and its 1-based line. */
export interface DocLink {
  target: string;
  line: number;
}

/** The inline links `[text](target)` of `markdown`, outside code blocks and code spans. */
export function markdownLinks(markdown: string): DocLink[] {
  const links: DocLink[] = [];
  linesWithFences(markdown).forEach(({ text, fence }, index) => {
    if (fence !== undefined) return;
    for (const match of text.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      links.push({ target: match[1], line: index + 1 });
    }
  });
  return links;
}

/** The anchors GitHub gives the headings of `markdown` (`## Errors and status codes` → `errors-and-status-codes`). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { text, fence } of linesWithFences(markdown)) {
    if (fence !== undefined) continue;
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(text);
    if (!heading) continue;
    const slug = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}
