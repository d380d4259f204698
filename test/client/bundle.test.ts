// The browser build stays small and free of Node built-ins.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';

const dist = join(import.meta.dirname, '../../dist/browser');

it('keeps /client.js under 8 KB minified and gzipped', () => {
  const code = readFileSync(join(dist, 'client.js'));
  expect(gzipSync(code, { level: 9 }).length).toBeLessThan(8 * 1024);
});

it('imports nothing from Node', () => {
  for (const file of ['client.js', 'client-msgpack.js', 'client-delta.js']) {
    const code = readFileSync(join(dist, file), 'utf8');
    expect(code).not.toMatch(/from\s*["'](node:|ws["'])|require\(/);
  }
});
