// A fresh app with the packed package installed, as a user gets it: `npm pack`
// of this checkout, then `npm install` of the tarball into an empty ES module
// app, beside only the packages the app itself asks for. Installs come from
// npm's cache when `npm ci` has filled it (--prefer-offline), or the registry.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PackedApp {
  /** The temporary directory holding the tarball and the app: remove it when done. */
  tmp: string;
  /** The app's directory. */
  dir: string;
  /** Every path in the tarball, relative to the package. */
  files: string[];
  /** The names in the installed package's dependency tree (`npm ls --all`), at any depth. */
  installedTree: Set<string>;
  /** The package.json that was packed. */
  manifest: { name: string; version: string; exports: unknown; dependencies: Record<string, string>; devDependencies: Record<string, string> };
}

/** npm without what `npm test` puts in the environment (npm_config_*, npm_package_*), which would point it back at this checkout. */
function npm(args: string[], cwd: string) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  return run('npm', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });
}

/**
 * Pack `root` (already built: `npm test` builds first, so the pack skips the
 * prepack build) and install it into a new app with `extra` packages, each at
 * the version this checkout has installed so that npm's cache serves it.
 */
export async function packedApp(root: string, extra: string[]): Promise<PackedApp> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'switchboard-package-'));
  const { stdout } = await npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  const app = path.join(dir, 'app');
  await mkdir(app);
  await writeFile(path.join(app, 'package.json'), JSON.stringify({ name: 'snippet-app', private: true, type: 'module' }, null, 2));
  const versions = await Promise.all(extra.map(async (name) => `${name}@${await installedVersion(root, name)}`));
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, packed.filename), ...versions], app);
  const manifest = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as PackedApp['manifest'];
  const tree = JSON.parse((await npm(['ls', '--all', '--json'], app)).stdout) as { dependencies: Record<string, Tree> };
  const installedTree = namesIn(tree.dependencies[manifest.name]!);
  return { tmp: dir, dir: app, files: packed.files.map((file) => file.path), installedTree, manifest };
}

async function installedVersion(root: string, name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(path.join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
  return manifest.version;
}

interface Tree {
  dependencies?: Record<string, Tree>;
}

function namesIn(tree: Tree, names = new Set<string>()): Set<string> {
  for (const [name, below] of Object.entries(tree.dependencies ?? {})) {
    names.add(name);
    namesIn(below, names);
  }
  return names;
}
