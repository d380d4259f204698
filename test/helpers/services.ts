// Redis and NATS for the tests that need them. Where one is not reachable
// those tests are skipped and say so, unless SWITCHBOARD_REQUIRE_ALL=1 (set
// by .ci/run), which turns the skip into a failure.
import { existsSync } from 'node:fs';
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
