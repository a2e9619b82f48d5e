import { readdirSync, readFileSync } from 'node:fs';
import { DEMOTE_BY } from '../../src/dispatch/thread-priority.js';

/**
 * Threads of a process (this one by default) whose nice value is DEMOTE_BY or more: a demoted
 * worker's (dispatch/pool.ts), read from /proc as the kernel sees them.
 */
export function demotedThreads(pid: number | 'self' = 'self'): number {
  let n = 0;
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return 0;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
      // After the command's closing parenthesis: state (field 3) first; nice is field 19.
      const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
      if (nice >= DEMOTE_BY) n++;
    } catch {
      // The thread ended while the folder was read.
    }
  }
  return n;
}
