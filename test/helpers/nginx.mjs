// nginx from Debian, run as a child process (daemon off) with its own prefix,
// config, pid and logs in a temp folder, in front of Switchboard nodes with the
// configuration of docs/scaling.md ("Behind nginx"). Shared by the nginx tests
// and bench/storm.mjs --nodes 2 (plain JavaScript for the bench; the JSDoc
// types are what the tests see). Where nginx is missing a test is skipped and
// says so, unless SWITCHBOARD_REQUIRE_ALL=1.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The nginx binary (on the PATH or Debian's /usr/sbin), or null with a message.
 * @returns {string | null}
 */
export function requireNginx() {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin'];
  const found = dirs.map((dir) => join(dir || '.', 'nginx')).find((file) => existsSync(file));
  if (found) return found;
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') throw new Error('nginx is not installed and SWITCHBOARD_REQUIRE_ALL=1 (apt-get install nginx)');
  console.warn('skipping the nginx tests: nginx is not installed (apt-get install nginx)');
  return null;
}

/**
 * The nginx block of docs/scaling.md ("Behind nginx"), as it is on the page.
 * @returns {string}
 */
export function docsNginxBlock() {
  const page = readFileSync(join(import.meta.dirname, '../../docs/scaling.md'), 'utf8');
  const block = /<!-- nginx config: read by [^\n]*-->\n```nginx\n([\s\S]*?)\n```/.exec(page);
  if (!block) throw new Error('docs/scaling.md has lost its nginx block');
  return block[1];
}

/**
 * The nginx block of docs/scaling.md with only the node addresses and the
 * listen line replaced: one `server` line per port on 127.0.0.1, and
 * `listen 127.0.0.1:<listen> <listenParams>`.
 * @param {number[]} upstreamPorts
 * @param {number} listen
 * @param {string} [listenParams] e.g. 'reuseport', to spread connections over several nginx workers
 * @returns {string}
 */
export function docsNginxConfig(upstreamPorts, listen, listenParams = '') {
  let text = docsNginxBlock();
  const replace = (from, to) => {
    const found = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from.source, 'g')) ?? []).length;
    if (found !== 1) throw new Error(`docs/scaling.md's nginx block has ${found} of ${String(from)}, not one`);
    text = text.replace(from, to);
  };
  const servers = upstreamPorts.map((port) => `server 127.0.0.1:${port} max_fails=0;`).join('\n    ');
  replace(/server 10\.0\.0\.11:8080 max_fails=0;\n\s*server 10\.0\.0\.12:8080 max_fails=0;/, servers);
  replace('listen 80;', `listen 127.0.0.1:${listen}${listenParams ? ` ${listenParams}` : ''};`);
  return text;
}

/**
 * @typedef {object} Nginx
 * @property {import('node:child_process').ChildProcess} child the master process
 * @property {() => string} errorLog what nginx wrote to its error log so far
 * @property {() => Promise<void>} stop SIGTERM (nginx's fast shutdown: master and workers), then the temp folder goes
 */

/**
 * @typedef {object} NginxOptions
 * @property {number} [workers] worker_processes (1)
 * @property {number} [workerConnections] each worker's connections, client and upstream sides together (1024)
 * @property {number} [openFiles] worker_rlimit_nofile (unset: the inherited limit)
 */

/**
 * Start nginx with `httpBlock` inside its `http {}`, and resolve once `port` accepts connections.
 * @param {string} binary
 * @param {string} httpBlock
 * @param {number} port
 * @param {NginxOptions} [options]
 * @returns {Promise<Nginx>}
 */
export async function startNginx(binary, httpBlock, port, { workers = 1, workerConnections = 1024, openFiles } = {}) {
  const prefix = mkdtempSync(join(tmpdir(), 'sb-nginx-'));
  const conf = join(prefix, 'nginx.conf');
  const errorLog = join(prefix, 'error.log');
  writeFileSync(
    conf,
    `daemon off;
worker_processes ${workers};
${openFiles ? `worker_rlimit_nofile ${openFiles};\n` : ''}pid ${join(prefix, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections ${workerConnections}; }
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
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
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
    throw new Error(`nginx did not start: ${error.message}\n${log}`, { cause: error });
  }
  return { child, errorLog: read, stop };
}

/**
 * Resolves once a TCP connection to the port succeeds; rejects when nginx exits first or after 10 s.
 * @param {number} port
 * @param {Promise<void>} exited
 */
async function listening(port, exited) {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (gone) throw new Error('nginx exited');
    const connected = await new Promise((resolve) => {
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
