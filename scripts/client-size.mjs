// Print the minified and gzipped size of the browser builds (run after npm run build).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

for (const file of ['dist/browser/client.js', 'dist/browser/client-msgpack.js', 'dist/browser/client-delta.js']) {
  const code = readFileSync(file);
  const gz = gzipSync(code, { level: 9 });
  console.log(`${file}: ${code.length} bytes minified, ${gz.length} bytes gzipped`);
}
