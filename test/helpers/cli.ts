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
  const listening = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    exited.then((e) => reject(new Error(`exited ${e.code}: ${e.stderr}`)));
  });
  // Tests of a process that should fail only await `exited`.
  listening.catch(() => {});
  return { child, exited, listening };
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
