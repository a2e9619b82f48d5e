/**
 * Worker threads' scheduling priority, so that a guest spinning on a core gives way to the
 * node's other threads (the pool decides when: dispatch/pool.ts, "A guest that spins").
 *
 * Linux keeps a nice value per thread: setpriority(PRIO_PROCESS, tid) (node's os.setPriority)
 * changes one worker thread and no other. Raising it is always allowed; lowering it back needs
 * CAP_SYS_NICE (root has it) or an RLIMIT_NICE that allows it, so `restore` may be refused, and
 * the pool then lets that worker go instead of keeping a thread that stays behind the others.
 * Where the OS shows no thread ids or CPU times (not Linux), nothing is demoted.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';

/** How far a demoted thread's nice value is raised: ~10 % of the CPU share of a thread at its old value, while both want the core. */
export const DEMOTE_BY = 10;

/** What the pool needs of the OS; tests give it their own. */
export interface ThreadPriority {
  /** CPU time the thread has used, in ms (not time it waited for a CPU), or undefined where it cannot be read. */
  cpuMs(tid: number): number | undefined;
  /** Lowers the thread's priority; false when refused (or it was already at the lowest). */
  demote(tid: number): boolean;
  /** Puts the thread's priority back; false when refused. */
  restore(tid: number): boolean;
}

/** The calling thread's kernel id (Linux: /proc/thread-self is `<pid>/task/<tid>`), or undefined. */
export function currentTid(): number | undefined {
  try {
    const link = readlinkSync('/proc/thread-self');
    const tid = Number(link.slice(link.lastIndexOf('/') + 1));
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Threads of this process through /proc and setpriority. A new thread starts at its creator's nice value: the main thread's, read once. */
export function osThreadPriority(): ThreadPriority {
  let base: number;
  try {
    base = os.getPriority();
  } catch {
    base = 0;
  }
  const low = Math.min(19, base + DEMOTE_BY);
  const set = (tid: number, nice: number): boolean => {
    try {
      os.setPriority(tid, nice);
      return true;
    } catch {
      return false;
    }
  };
  return {
    cpuMs(tid) {
      try {
        // Its first field: ns on a CPU (the second is ns waiting in a run queue).
        const text = readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1');
        const ns = Number(text.slice(0, text.indexOf(' ')));
        return Number.isFinite(ns) ? ns / 1e6 : undefined;
      } catch {
        return undefined;
      }
    },
    demote: (tid) => low > base && set(tid, low),
    restore: (tid) => set(tid, base),
  };
}
