/**
 * Where the pool's worker threads come from. A worker's start (a Node environment, then its
 * modules) used to begin only once the main thread had loaded the whole node: two waits, one
 * after the other. `verge up` calls `prespawnWorkers` from bin/verge.js before
 * anything else is imported, so both load at once, and the pool adopts those workers.
 *
 * Until adopted a worker is unreferenced, so a command that fails before the pool starts still
 * exits; one that dies before adoption is dropped and the pool starts (and sees the failure of) a
 * fresh one.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { threadEntry } from '../package-files.js';


/** Workers kept warm beside the serving ones, to take the place of one that is terminated. */
export const SPARE_WORKERS = 1;

/** One worker per available core unless --workers says otherwise. */
export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism());
}

/** Started before the pool, not adopted yet, with the listeners that drop them if they die. */
const waiting = new Map<Worker, () => void>();

function newWorker(): Worker {
  return new Worker(threadEntry('worker'), { stdout: false, stderr: false });
}

export function prespawnWorkers(count: number): void {
  for (let i = 0; i < count; i++) {
    const worker = newWorker();
    worker.unref();
    const drop = () => {
      waiting.delete(worker);
      worker.off('error', drop);
      worker.off('exit', drop);
    };
    worker.on('error', drop);
    worker.on('exit', drop);
    waiting.set(worker, drop);
  }
}

/** A worker for the pool: a prespawned one if any is left, else a new one. */
export function spawnWorker(): Worker {
  for (const [worker, drop] of waiting) {
    drop();
    worker.ref();
    return worker;
  }
  return newWorker();
}

/** Stops the prespawned workers nobody adopted (`--workers` asked for fewer than were guessed). */
export function discardPrespawned(): void {
  for (const [worker, drop] of waiting) {
    drop();
    void worker.terminate();
  }
}

/** Workers an idle node keeps by default; more start as requests wait, up to --workers (src/dispatch/pool.ts). */
export const DEFAULT_IDLE_WORKERS = 1;

/** How many serving workers `verge up` starts before its first request (the idle floor; the pool starts a spare once they are up, and only at full size), read from argv as the CLI will parse it; 0 for any other command. */
export function upWorkerCount(argv: readonly string[]): number {
  if (argv[2] !== 'up' || argv.includes('--help') || argv.includes('-h')) return 0;
  const size = flagValue(argv, '--workers') ?? defaultWorkers();
  const idle = flagValue(argv, '--idle-workers') ?? DEFAULT_IDLE_WORKERS;
  // A bad value is the CLI's to refuse, with its own message: nothing is started for it.
  if (Number.isNaN(size) || Number.isNaN(idle)) return 0;
  const floor = Math.min(size, idle, defaultWorkers() * 4);
  return floor;
}

/** The flag's value as a positive integer, undefined when absent, NaN when it is not one. */
function flagValue(argv: readonly string[], name: string): number | undefined {
  let flag: string | undefined;
  for (let i = 3; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === name) flag = argv[i + 1];
    else if (a.startsWith(`${name}=`)) flag = a.slice(name.length + 1);
  }
  if (flag === undefined) return undefined;
  const n = Number(flag);
  return Number.isInteger(n) && n >= 1 ? n : NaN;
}
