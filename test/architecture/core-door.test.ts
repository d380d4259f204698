// The core has one door: outside src/server/core/, code and tests reach it
// only through src/server/core/index.ts (the connection door, Operations, the
// types). The core's own tests (test/core/) may look inside.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CORE = join(root, 'src/server/core');
const DOOR = join(CORE, 'index.ts');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sources(path);
    return /\.(ts|mts|mjs|js)$/.test(entry.name) ? [path] : [];
  });
}

/** Every relative module a file imports (static, dynamic, re-exports), resolved to a .ts path. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1]!);
  return specifiers.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

it('no file outside the core imports past src/server/core/index.ts', () => {
  const outside = [...sources(join(root, 'src')), ...sources(join(root, 'test')), ...sources(join(root, 'bench')), ...sources(join(root, 'examples'))].filter(
    (file) => !file.startsWith(CORE + '/') && !file.startsWith(join(root, 'test/core') + '/'),
  );
  const trespasses = outside.flatMap((file) =>
    importsOf(file)
      .filter((target) => target.startsWith(CORE + '/') && target !== DOOR)
      .map((target) => `${relative(root, file)} -> ${relative(root, target)}`),
  );
  expect(trespasses).toEqual([]);
});

it('sees an import past the door when there is one', () => {
  // The check above must be able to fail: the scan finds core.ts naming hub.ts.
  expect(importsOf(join(CORE, 'core.ts'))).toContain(join(CORE, 'hub.ts'));
});
