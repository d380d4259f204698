// Bundle the browser client as ES modules: dist/browser/client.js (JSON only)
// dist/browser/client-msgpack.js (the MessagePack codec, opt-in) and
// dist/browser/client-delta.js (Fossil deltas, opt-in).
// platform: 'browser' makes any Node built-in a build error.
import { build } from 'esbuild';

const common = { bundle: true, format: 'esm', platform: 'browser', target: 'es2020', minify: true, legalComments: 'none', logLevel: 'warning' };
await build({ ...common, entryPoints: ['src/client/index.ts'], outfile: 'dist/browser/client.js' });
await build({ ...common, entryPoints: ['src/client/msgpack.ts'], outfile: 'dist/browser/client-msgpack.js' });
await build({ ...common, entryPoints: ['src/client/delta.ts'], outfile: 'dist/browser/client-delta.js' });
