// Run `switchboard` as a process, as a user would, and wait for its
// listening line or its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '../../dist/cli/main.js');
const children: ChildProcess[] = [];

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  exited: Promise<Exit>;
  /** The URL of the listening line; rejects if the process exits first. */
  listening: Promise<string>;
  /** Everything printed on stdout so far (the listening line, then log lines at SWITCHBOARD_LOG_LEVEL). */
  stdout: () => string;
}

export function run(args: string[], env: Record<string, string> = {}): Running {
  return runScript(BIN, args, env);
}

/** Run a Node script that prints a listening line, as `switchboard serve` does. */
export function runScript(script: string, args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [script, ...args], {
    env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<Exit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  let out = '';
  const listening = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    void exited.then((e) => reject(new Error(`exited ${e.code}: ${e.stderr}`)));
  });
  // Tests of a process that should fail only await `exited`.
  listening.catch(() => {});
  return { child, exited, listening, stdout: () => out };
}

/** `switchboard serve --port 0 ...`, resolved once it listens. */
export async function serve(args: string[] = [], env: Record<string, string> = {}): Promise<Running & { url: string }> {
  const running = run(['serve', '--port', '0', ...args], env);
  return { ...running, url: await running.listening };
}

/** Kill whatever a test left running. */
export function killChildren(): void {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export interface Tool {
  child: ChildProcess;
  /** Exit code and everything printed. */
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** The first (or nth) line matching, as soon as it is printed. */
  line(pattern: RegExp, stream?: 'stdout' | 'stderr', nth?: number): Promise<string>;
  output(): { stdout: string; stderr: string };
}

/** Run a CLI command with piped stdin (written then ended when `stdin` is given; left open otherwise). */
export function tool(args: string[], options: { stdin?: string; env?: Record<string, string | undefined>; command?: string[] } = {}): Tool {
  const command = options.command ?? [process.execPath, BIN];
  const child = spawn(command[0]!, [...command.slice(1), ...args], {
    // An undefined value removes the variable.
    env: Object.fromEntries(
      Object.entries({ ...process.env, SWITCHBOARD_LOG_LEVEL: 'warn', NO_COLOR: '1', ...options.env }).filter(([, v]) => v !== undefined),
    ),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  const waiters: (() => void)[] = [];
  const check = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (chunk) => ((out.stdout += chunk), check()));
  child.stderr!.on('data', (chunk) => ((out.stderr += chunk), check()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, ...out })));
  if (options.stdin !== undefined) child.stdin!.end(options.stdin);
  const line = (pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout', nth = 1) =>
    new Promise<string>((resolve, reject) => {
      const find = () => out[stream].split('\n').filter((l) => pattern.test(l))[nth - 1];
      const waiter = () => {
        const found = find();
        if (found !== undefined) resolve(found);
      };
      waiters.push(waiter);
      waiter();
      void exited.then(() => {
        const found = find();
        if (found === undefined) reject(new Error(`exited without a ${stream} line matching ${pattern}: ${JSON.stringify(out)}`));
        else resolve(found);
      });
    });
  return { child, exited, line, output: () => ({ ...out }) };
}
