// bench --server-pid reads a server's process tree from /proc: a
// `serve --workers` primary is measured with its workers.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { cpuSeconds, processTree, rssKiB } from '../../src/cli/bench/proc-stat.js';

const children: Array<() => void> = [];
afterEach(() => children.splice(0).forEach((kill) => kill()));

it('counts a process with its descendants, and a process without children alone', async () => {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.once('spawn', resolve));
  expect(processTree(child.pid!)).toEqual([child.pid]);
  expect(processTree(process.pid)).toContain(child.pid);
  // This process and the child (tens of MB of its own) together, within 2 MB of drift between the reads.
  const own = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  expect(rssKiB(process.pid)!).toBeGreaterThanOrEqual(own + rssKiB(child.pid!)! - 2_048);
  expect(cpuSeconds(process.pid)!).toBeGreaterThanOrEqual(cpuSeconds(child.pid!)!);
  expect(cpuSeconds(2 ** 22 + 12345)).toBeNull();
});
