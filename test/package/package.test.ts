// The package as a user installs it: packed, installed into a fresh app, every
// ```ts block of the README and docs/ compiled there (strict, nodenext), and
// the README's library server and SDK client run there against each other.
// One pack, one install and one compiler run for all of it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { markdownFiles, snippetFileName, tsSnippets, type Snippet } from './markdown-snippets.js';
import { packedApp, type PackedApp } from './packed-app.js';

const root = path.resolve(import.meta.dirname, '../..');
// What the snippets import besides the package (zod is also the package's own dependency).
const APP_PACKAGES = ['zod', 'express', '@types/express', 'socket.io', '@types/node'];
// The README's runnable pair: the library server, and the SDK client publishing to it.
const SERVER = { doc: 'README.md', heading: 'As a library' };
const CLIENT = { doc: 'README.md', heading: 'With the client SDK' };

let app: PackedApp;
let snippets: Snippet[];
let port: number;
let compiled: { ok: boolean; output: string };

beforeAll(async () => {
  [app, port] = await Promise.all([packedApp(root, APP_PACKAGES), freePort()]);
  snippets = markdownFiles(root).flatMap((doc) => tsSnippets(root, doc));
  await mkdir(path.join(app.dir, 'snippets'));
  for (const snippet of snippets) {
    // The runnable pair listens on and connects to a free port instead of 8080.
    const code = isRunnable(snippet) ? snippet.code.replaceAll('8080', String(port)) : snippet.code;
    await writeFile(path.join(app.dir, 'snippets', snippetFileName(snippet)), code);
  }
  await writeFile(path.join(app.dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  compiled = await compile(app.dir);
}, 240_000);

// Processes a timed-out test could leave behind.
const children = new Set<ChildProcess>();

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (app) await rm(app.tmp, { recursive: true, force: true });
});

const TSCONFIG = {
  compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: ['node'], outDir: 'out', rootDir: 'snippets' },
  include: ['snippets'],
};

const isRunnable = (snippet: Snippet) => [SERVER, CLIENT].some((which) => which.doc === snippet.doc && which.heading === snippet.heading);

/** The project's own TypeScript over every snippet at once, its messages pointing at the Markdown lines. */
async function compile(dir: string): Promise<{ ok: boolean; output: string }> {
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  const result = await promisify(execFile)(tsc, ['-p', '.', '--pretty', 'false'], { cwd: dir }).then(
    ({ stdout }) => ({ ok: true, output: stdout }),
    (error: { stdout?: string; message: string }) => ({ ok: false, output: error.stdout || error.message }),
  );
  return { ok: result.ok, output: toDocLines(result.output) };
}

function toDocLines(output: string): string {
  return output.replace(/snippets\/(\S+?)\.ts\((\d+),(\d+)\)/g, (whole, name: string, line: string, column: string) => {
    const snippet = snippets.find((each) => snippetFileName(each) === `${name}.ts`);
    return snippet ? `${snippet.doc}:${snippet.line + Number(line) - 1}:${column}` : whole;
  });
}

describe('the packed package', () => {
  it('holds what a user needs and nothing else: dist (with the browser bundle and the CLI), web/, README, LICENSE, CHANGELOG', () => {
    const outside = app.files.filter((file) => !/^(dist\/|web\/)/.test(file) && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(file));
    expect(outside).toEqual([]);
    for (const needed of ['dist/browser/client.js', 'dist/cli/main.js', 'web/index.html', 'web/admin/index.html', 'LICENSE', 'CHANGELOG.md']) {
      expect(app.files).toContain(needed);
    }
    expect(app.files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('has every file its exports name, each entry with types', () => {
    const targets: string[] = [];
    const walk = (value: unknown, key: string) => {
      if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''));
      else if (value && typeof value === 'object') {
        const conditions = Object.keys(value);
        if (key !== './package.json' && !conditions.some((name) => name.startsWith('.'))) expect(conditions, key).toContain('types');
        for (const [name, inner] of Object.entries(value)) walk(inner, name.startsWith('.') ? name : key);
      }
    };
    walk(app.manifest.exports, '.');
    expect(targets.filter((target) => !app.files.includes(target))).toEqual([]);
  });

  it('gives the app the switchboard command, running from the installed files', async () => {
    const { stdout } = await promisify(execFile)(path.join(app.dir, 'node_modules/.bin/switchboard'), ['--version'], { cwd: app.dir });
    expect(stdout.trim()).toBe(app.manifest.version);
  });

  it('installs into an app bringing its runtime dependencies and none of its development ones', () => {
    expect(existsSync(path.join(app.dir, 'node_modules/switchboard/dist/server/index.js'))).toBe(true);
    for (const name of Object.keys(app.manifest.dependencies)) expect(app.installedTree, name).toContain(name);
    expect(Object.keys(app.manifest.devDependencies).filter((name) => app.installedTree.has(name))).toEqual([]);
  });
});

describe('the documentation', () => {
  it('has ts blocks to check, the runnable pair among them', () => {
    expect(snippets.filter(isRunnable)).toHaveLength(2);
  });

  it('compiles: every ```ts block of README.md and docs/*.md, strict, nodenext, against the packed package', () => {
    expect(compiled.output, compiled.output).toBe('');
    expect(compiled.ok).toBe(true);
  });

  it("runs the README's library server and its SDK client against each other: a publication goes round, stamped by the onPublish hook", async () => {
    expect(compiled.ok).toBe(true);
    const out = (which: typeof SERVER) => {
      const snippet = snippets.find((each) => each.doc === which.doc && each.heading === which.heading)!;
      return path.join(app.dir, 'out', snippetFileName(snippet).replace(/\.ts$/, '.js'));
    };
    const server = start(out(SERVER), app.dir);
    try {
      const url = (await server.saw(/listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      // The installed package finds its browser bundle (dist/browser) and its demo page (web/).
      for (const page of ['/client.js', '/']) expect((await fetch(url + page)).status, page).toBe(200);
      const client = start(out(CLIENT), app.dir);
      try {
        await client.saw(/\{ hello: 'world', at: \d+ \}/);
      } finally {
        await client.stop();
      }
    } finally {
      await server.stop();
    }
    expect(server.exitCode()).toBe(0); // its SIGTERM handler drained and let the process end
  });
});

/** A node process whose output a test waits on. */
function start(file: string, cwd: string) {
  const child: ChildProcess = spawn(process.execPath, [file], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const waiters = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const check of waiters) check();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  return {
    /** Resolves to the match once the output matches; rejects with the output if the process ends first or within `ms` it has not. */
    saw: (pattern: RegExp, ms = 8_000) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${path.basename(file)} did not print ${pattern} within ${ms} ms:\n${output}`)), ms);
        const check = () => {
          const match = pattern.exec(output);
          if (!match) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        waiters.add(check);
        check();
        void exited.then(() =>
          reject(new Error(`${path.basename(file)} ended (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${output}`)),
        );
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    exitCode: () => child.exitCode,
  };
}
