// Redis, and the commands some tests run (redis-server, nginx...), for the
// tests that need them. Where one is not there those tests are skipped and say
// so, unless SWITCHBOARD_REQUIRE_ALL=1 (set by .ci/run), which turns the skip
// into a failure.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import net from 'node:net';

export const REDIS_URL = process.env.SWITCHBOARD_TEST_REDIS ?? 'redis://127.0.0.1:6379';

function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** True when the service answers; otherwise false with a message, or an error under SWITCHBOARD_REQUIRE_ALL. */
export async function requireService(name: string, url: string): Promise<boolean> {
  if (await reachable(url)) return true;
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') throw new Error(`${name} is not reachable at ${url} and SWITCHBOARD_REQUIRE_ALL=1`);
  console.warn(`skipping ${name} tests: nothing answers at ${url}`);
  return false;
}

/** True when a command is on the PATH; otherwise false with a message, or an error under SWITCHBOARD_REQUIRE_ALL. */
export function requireCommand(name: string, hint: string): boolean {
  const found = (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(`${dir}/${name}`));
  if (found) return true;
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') throw new Error(`${name} is not installed and SWITCHBOARD_REQUIRE_ALL=1 (${hint})`);
  console.warn(`skipping tests that need ${name}: not on the PATH (${hint})`);
  return false;
}

/**
 * True when `redis-server` is installed and at least `major` (Sentinel and
 * Cluster tests start their own); otherwise false with a message, or an
 * error under SWITCHBOARD_REQUIRE_ALL.
 */
export function requireRedisServer(name: string, major: number): boolean {
  const found = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  const version = /v=(\d+)\./.exec(found.stdout ?? '');
  if (version && Number(version[1]) >= major) return true;
  const why = version ? `redis-server ${version[1]}.x is older than ${major}.0` : 'redis-server is not installed (apt-get install redis-server)';
  if (process.env.SWITCHBOARD_REQUIRE_ALL === '1') throw new Error(`${why} and SWITCHBOARD_REQUIRE_ALL=1`);
  console.warn(`skipping ${name} tests: ${why}`);
  return false;
}
