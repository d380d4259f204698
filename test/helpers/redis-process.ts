// A redis-server of the test's own, on a free port, for tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';

export interface RedisProcess {
  child: ChildProcess;
  url: string;
  /** SIGKILL, which also ends a stopped process. */
  kill: () => Promise<void>;
  /** SIGSTOP: the process answers nothing while its TCP connections stay up. */
  stop: () => void;
  /** SIGCONT after stop(). */
  resume: () => void;
}

export async function startRedis(port: number): Promise<RedisProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
  };
}
