// The ```ts blocks of the README and docs/*.md, each with where it is: the
// package test compiles every one against the packed package. A block that is
// deliberately a fragment opts out with `<!-- fragment -->` on the line before
// its fence; prefer making it complete.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export interface Snippet {
  /** The Markdown file, relative to the repository. */
  doc: string;
  /** The line of the block's first code line in the file (1-based). */
  line: number;
  /** The nearest heading above the block. */
  heading: string;
  code: string;
}

const FRAGMENT = '<!-- fragment -->';

export function markdownFiles(root: string): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

export function tsSnippets(root: string, doc: string): Snippet[] {
  const lines = readFileSync(path.join(root, doc), 'utf8').split('\n');
  const snippets: Snippet[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    if (/^#{1,6} /.test(text)) heading = text.replace(/^#+ /, '');
    const fence = /^(\s*)(`{3,})(\S*)/.exec(text);
    if (!fence) continue;
    const end = lines.findIndex((other, j) => j > i && other.trimStart().startsWith(fence[2]!));
    if (end === -1) throw new Error(`${doc}:${i + 1}: a code block that never ends`);
    if (fence[3] === 'ts' && lines[i - 1]?.trim() !== FRAGMENT) {
      const indent = fence[1]!.length;
      const code = lines.slice(i + 1, end).map((codeLine) => codeLine.slice(indent));
      snippets.push({ doc, line: i + 2, heading, code: code.join('\n') + '\n' });
    }
    i = end;
  }
  return snippets;
}

/** A file name that says where the snippet came from, for the compiler's messages. */
export function snippetFileName(snippet: Snippet): string {
  return `${snippet.doc.replace(/[/.]/g, '_')}_line${snippet.line}.ts`;
}
