// nginx from Debian, run by a test as a child process (daemon off) with its
// own prefix, config, pid and logs in a temp folder. Where it is missing the
// test is skipped and says so, unless SWITCHBOARD_REQUIRE_ALL=1.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The nginx binary (on the PATH or Debian's /usr/sbin), or null with a message. */
export function requireNginx(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin'];
  const found = dirs.map((dir) => join(dir || '.', 'nginx')).find((file) => existsSync(file));
  if (found) return found;
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') throw new Error('nginx is not installed and SWITCHBOARD_REQUIRE_ALL=1 (apt-get install nginx)');
  console.warn('skipping the nginx tests: nginx is not installed (apt-get install nginx)');
  return null;
}

export interface Nginx {
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
  /** SIGTERM (nginx's fast shutdown: master and workers), then the temp folder goes. */
  stop(): Promise<void>;
}

/** Start nginx with `httpBlock` inside its `http {}`, and resolve once `port` accepts connections. */
export async function startNginx(binary: string, httpBlock: string, port: number): Promise<Nginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'sb-nginx-'));
  const conf = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  writeFileSync(
    conf,
    `daemon off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 1024; }
http {
  access_log ${join(prefix, 'access.log')};
  client_body_temp_path ${join(prefix, 'client_body')};
  proxy_temp_path ${join(prefix, 'proxy')};
  fastcgi_temp_path ${join(prefix, 'fastcgi')};
  uwsgi_temp_path ${join(prefix, 'uwsgi')};
  scgi_temp_path ${join(prefix, 'scgi')};
${httpBlock}
}
`,
  );
  // -e: the startup error log too, so nothing is written outside the prefix.
  const child = spawn(binary, ['-p', `${prefix}/`, '-c', conf, '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const read = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await listening(port, exited);
  } catch (error) {
    const log = stderr + read();
    await stop();
    throw new Error(`nginx did not start: ${(error as Error).message}\n${log}`, { cause: error });
  }
  return { errorLog: read, stop };
}

/** Resolves once a TCP connection to the port succeeds; rejects when nginx exits first or after 10 s. */
async function listening(port: number, exited: Promise<void>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (gone) throw new Error('nginx exited');
    const connected = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (connected) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after 10 s`);
    // A refused connection comes back at once: wait for nginx's exit or a moment, whichever is first.
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20))]);
  }
}
