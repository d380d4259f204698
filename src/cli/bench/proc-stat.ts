// CPU time and memory of another process and its descendants from /proc
// (Linux), for `bench`'s server column: a `serve --workers` server is a
// primary and its workers. utime + stime of /proc/PID/stat, in clock ticks.
import { readdirSync, readFileSync } from 'node:fs';

/** USER_HZ: 100 on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100;

/** The fields of /proc/PID/stat after the command name (which may hold spaces), or null. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** PID and every live process below it, except this process and its own (when the server is our parent, as in tests). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const parent = Number(statFields(Number(entry))?.[1]);
    if (!parent) continue;
    const list = children.get(parent);
    if (list) list.push(Number(entry));
    else children.set(parent, [Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []).filter((child) => child !== process.pid));
  return tree;
}

/** CPU seconds used so far by PID and its descendants, or null when PID cannot be read. */
export function cpuSeconds(pid: number): number | null {
  let total: number | null = null;
  for (const member of processTree(pid)) {
    const fields = statFields(member);
    if (fields) total = (total ?? 0) + (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  }
  return total;
}

/** Resident memory of PID and its descendants in KiB, or null. */
export function rssKiB(pid: number): number | null {
  let total: number | null = null;
  for (const member of processTree(pid)) {
    try {
      const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${member}/status`, 'utf8'));
      if (match) total = (total ?? 0) + Number(match[1]);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
