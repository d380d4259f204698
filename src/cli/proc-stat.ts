// CPU time and memory of another process from /proc (Linux), for `bench`'s
// server column: utime + stime of /proc/PID/stat, in clock ticks.
import { readFileSync } from 'node:fs';

/** USER_HZ: 100 on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100;

/** CPU seconds used so far by PID, or null when it cannot be read. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** Resident memory of PID in KiB, or null. */
export function rssKiB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
