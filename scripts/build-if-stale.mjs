// `npm start`'s prestart: `npm run build`, unless dist/ is already built from
// the sources as they are, so that starting again takes a second, not a build.
// Built: dist/.build-stamp, written here after a build that succeeded, is
// newer than every file and directory below (a directory's time changes when
// a file in it is added, removed or renamed). A fresh clone has no stamp and
// builds; `npm run build` by hand writes none, so the next start builds again.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const INPUTS = ['src', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build-browser.mjs'];
const STAMP = join(root, 'dist', '.build-stamp');

/** The newest modification time under `path` (ms), 0 when it does not exist. */
function newest(path) {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const stamp = statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0;
const sources = Math.max(...INPUTS.map((input) => newest(join(root, input))));
if (stamp > sources && statSync(join(root, 'dist/cli/main.js'), { throwIfNoEntry: false })) {
  console.log('dist/ is up to date with src/ (npm run build rebuilds it)');
  process.exit(0);
}

// A source saved during the build is newer than this, so the next start builds again.
const startedAt = new Date();
const build = spawnSync('npm run build', { cwd: root, stdio: 'inherit', shell: true });
if (build.status !== 0) process.exit(build.status ?? 1);
writeFileSync(STAMP, '');
utimesSync(STAMP, startedAt, startedAt);
