import type Database from 'better-sqlite3';
import { lazyRequire } from '../../lazy-require.js';
import { StoreError } from '../store.js';

/**
 * Lock contention: another connection held the write lock past our busy timeout, or (LOCKED) a
 * conflict inside one connection that the busy handler does not wait for. Either way the database
 * is healthy and a retry shortly after will likely succeed, so it is TIMEOUT ("did not answer in
 * time") rather than UNAVAILABLE ("is failing"). The caller answers 503 for both and the circuit
 * breaker counts both.
 */
const TIMEOUT_CODES = ['SQLITE_BUSY', 'SQLITE_LOCKED'];

/**
 * The database itself is failing: a read-only file or folder, an I/O error, a file that cannot be
 * opened, a full disk, a corrupt file or not a database at all, or SQLite out of memory.
 */
const UNAVAILABLE_CODES = [
  'SQLITE_READONLY',
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  'SQLITE_FULL',
  'SQLITE_CORRUPT',
  'SQLITE_NOTADB',
  'SQLITE_NOMEM',
  'SQLITE_PERM',
  'SQLITE_PROTOCOL',
  'SQLITE_NOLFS',
];

/** Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_FSYNC, ...) belong to their primary code. */
function hasPrimaryCode(code: string, primaries: readonly string[]): boolean {
  return primaries.some((primary) => code === primary || code.startsWith(`${primary}_`));
}

/**
 * Turns a better-sqlite3 failure into a StoreError, keeping it as the cause. Anything else — a
 * constraint, SQL or binding error — is a bug in Verge, not a failing backend: it is returned
 * unchanged so it surfaces as INTERNAL instead of opening the circuit breaker.
 */
/** better-sqlite3, loaded by the first store opened: a worker whose guests have no store never loads it. */
export const loadSqlite = lazyRequire<typeof Database>('better-sqlite3');

export function toStoreError(err: unknown, file: string, busyTimeoutMs: number): unknown {
  if (err instanceof StoreError) return err;
  if (err instanceof loadSqlite().SqliteError) {
    if (hasPrimaryCode(err.code, TIMEOUT_CODES)) {
      return new StoreError('TIMEOUT', `sqlite store ${file}: the database stayed locked longer than the busy timeout of ${busyTimeoutMs} ms (${err.code})`, { cause: err });
    }
    if (hasPrimaryCode(err.code, UNAVAILABLE_CODES)) {
      return new StoreError('UNAVAILABLE', `sqlite store ${file}: ${err.message} (${err.code})`, { cause: err });
    }
    return err;
  }
  // Creating the parent folders goes through node:fs, whose errors carry an errno code.
  if (err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string') {
    return new StoreError('UNAVAILABLE', `sqlite store ${file}: ${err.message}`, { cause: err });
  }
  return err;
}
