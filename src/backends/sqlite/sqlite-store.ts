import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { StoreError, asyncView, checkListLimit, compareUtf8, nextCounter, type KvStore, type SyncKvStore } from '../store.js';
import { loadSqlite, toStoreError } from './errors.js';

export const SQLITE_DEFAULTS = Object.freeze({
  /**
   * Contention between Verge's few worker threads lasts a transaction or two, well under this;
   * a database locked for longer must answer fast, and the caller turns it into a 503.
   */
  busyTimeoutMs: 250,
});

/**
 * Used while opening. Only a fresh file takes the write lock at open (switching it to WAL,
 * creating the table), and every worker thread may open it at once on first use: they should
 * wait for each other, not fail. Opening an existing file takes no write lock, so a writer
 * holding the database does not make opening wait at all.
 */
const OPEN_BUSY_TIMEOUT_MS = 5000;

export interface SqliteStoreOptions {
  readonly busyTimeoutMs?: number;
}

export interface SqliteSettings {
  readonly journalMode: string;
  readonly synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';
  readonly busyTimeoutMs: number;
}

/** One connection. Open one per worker thread; they may share the file with other processes. */
export interface SqliteStore extends SyncKvStore {
  readonly file: string;
  /** Read back from the connection after opening, for diagnostics and tests. */
  readonly settings: SqliteSettings;
  /** The same connection behind the async contract. */
  readonly async: KvStore;
}

/**
 * Opens (creating it and its folders if needed) a store in a SQLite file.
 *
 * - WAL lets readers go on while one connection writes, and keeps a commit to one append.
 * - synchronous = FULL fsyncs the WAL at every commit, so an acknowledged write survives a power
 *   loss; NORMAL survives a killed process but may lose the last commits on power loss.
 * - `key TEXT PRIMARY KEY` with the default BINARY collation orders keys by memcmp of their UTF-8
 *   bytes, which is exactly the order listKeys promises.
 */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): SqliteStore {
  const busyTimeoutMs = options.busyTimeoutMs ?? SQLITE_DEFAULTS.busyTimeoutMs;
  if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(`busyTimeoutMs must be a non-negative integer of milliseconds, got ${busyTimeoutMs}`);
  }
  let db: Database.Database | undefined;
  try {
    db = openDatabase(file, busyTimeoutMs);
    return new SqliteKvStore(db, file, busyTimeoutMs);
  } catch (err) {
    db?.close();
    throw toStoreError(err, file, OPEN_BUSY_TIMEOUT_MS);
  }
}

const SYNCHRONOUS_NAMES = ['OFF', 'NORMAL', 'FULL', 'EXTRA'] as const;

function readSettings(db: Database.Database, busyTimeoutMs: number): SqliteSettings {
  return Object.freeze({
    busyTimeoutMs,
    journalMode: String(db.pragma('journal_mode', { simple: true })),
    synchronous: SYNCHRONOUS_NAMES[Number(db.pragma('synchronous', { simple: true }))] ?? 'OFF',
  });
}

function openDatabase(file: string, busyTimeoutMs: number): Database.Database {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new (loadSqlite())(file, { timeout: OPEN_BUSY_TIMEOUT_MS });
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') {
      throw new StoreError('UNAVAILABLE', `sqlite store ${file}: the database refused WAL journaling (journal_mode is ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
    // SQLite's own busy handler sleeps longer and longer between tries (up to 100 ms), so under a
    // contended lock a waiter can lose its whole timeout to a few naps while others take the lock.
    // #run retries every millisecond instead; SQLite itself does not wait.
    db.pragma('busy_timeout = 0');
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

const BUSY_RETRY_MS = 1;
const NAP = new Int32Array(new SharedArrayBuffer(4));

function isBusy(err: unknown): boolean {
  return err instanceof loadSqlite().SqliteError && (err.code === 'SQLITE_BUSY' || err.code.startsWith('SQLITE_BUSY_'));
}

class SqliteKvStore implements SqliteStore {
  readonly kind = 'sqlite';
  readonly async: KvStore = asyncView(this);
  readonly #db: Database.Database;
  readonly #busyTimeoutMs: number;
  readonly settings: SqliteSettings;
  #closed = false;

  readonly #get: Database.Statement<[string], Buffer>;
  readonly #exists: Database.Statement<[string], number>;
  readonly #upsert: Database.Statement<[string, Uint8Array]>;
  readonly #delete: Database.Statement<[string]>;
  readonly #listFrom: Database.Statement<[string, Uint8Array, number], string>;
  readonly #listAfter: Database.Statement<[string, Uint8Array, number], string>;
  readonly #insertIfAbsent: Database.Statement<[string, Uint8Array]>;
  readonly #replaceIfEqual: Database.Statement<[Uint8Array, string, Uint8Array]>;
  readonly #increment: Database.Transaction<(key: string, delta: bigint) => bigint>;

  constructor(db: Database.Database, readonly file: string, busyTimeoutMs: number) {
    this.#db = db;
    this.#busyTimeoutMs = busyTimeoutMs;
    this.settings = readSettings(db, busyTimeoutMs);
    this.#get = db.prepare<[string], Buffer>('SELECT value FROM kv WHERE key = ?').pluck();
    this.#exists = db.prepare<[string], number>('SELECT 1 FROM kv WHERE key = ?').pluck();
    this.#upsert = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    this.#delete = db.prepare('DELETE FROM kv WHERE key = ?');
    // The upper bound is the prefix's UTF-8 bytes followed by 0xFF, a byte UTF-8 never contains,
    // so every key with the prefix sorts below it and the primary key index serves the range.
    // It is bound as a BLOB and cast, because a JS string cannot carry the 0xFF byte.
    const list = 'SELECT key FROM kv WHERE key %LOWER% ? AND key < CAST(? AS TEXT) ORDER BY key LIMIT ?';
    this.#listFrom = db.prepare<[string, Uint8Array, number], string>(list.replace('%LOWER%', '>=')).pluck();
    this.#listAfter = db.prepare<[string, Uint8Array, number], string>(list.replace('%LOWER%', '>')).pluck();
    // Compare-and-swap is one statement, hence atomic without an explicit transaction.
    this.#insertIfAbsent = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING');
    this.#replaceIfEqual = db.prepare('UPDATE kv SET value = ? WHERE key = ? AND value = ?');
    // Increment reads, validates in JS and writes. BEGIN IMMEDIATE takes the write lock before
    // the read, so no other connection can commit in between; a deferred transaction would read
    // first and could then fail with SQLITE_BUSY_SNAPSHOT, which the busy handler never retries.
    this.#increment = db.transaction((key: string, delta: bigint): bigint => {
      const next = nextCounter(key, this.#get.get(key), delta);
      this.#upsert.run(key, next.bytes);
      return next.value;
    });
  }

  recover(): void {
    // An increment stopped between its BEGIN IMMEDIATE and its COMMIT would hold the write lock, and the next statement would join its transaction.
    if (!this.#closed && this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  get(key: string): Uint8Array | undefined {
    return this.#run(() => {
      const value = this.#get.get(key);
      return value === undefined ? undefined : fromBuffer(value);
    });
  }

  set(key: string, value: Uint8Array): void {
    this.#run(() => this.#upsert.run(key, value));
  }

  delete(key: string): boolean {
    return this.#run(() => this.#delete.run(key).changes > 0);
  }

  exists(key: string): boolean {
    return this.#run(() => this.#exists.get(key) !== undefined);
  }

  listKeys(prefix: string, after: string | undefined, limit: number): string[] {
    checkListLimit(limit);
    return this.#run(() => {
      if (limit === 0) return [];
      const upper = Buffer.concat([Buffer.from(prefix, 'utf8'), Buffer.of(0xff)]);
      // Start from whichever bound is higher: `after` (exclusive) or the prefix (inclusive).
      return after !== undefined && compareUtf8(after, prefix) >= 0
        ? this.#listAfter.all(after, upper, limit)
        : this.#listFrom.all(prefix, upper, limit);
    });
  }

  increment(key: string, delta: bigint): bigint {
    return this.#run(() => this.#increment.immediate(key, delta));
  }

  compareAndSwap(key: string, expected: Uint8Array | null, value: Uint8Array): boolean {
    return this.#run(() => {
      const result = expected === null
        ? this.#insertIfAbsent.run(key, value)
        : this.#replaceIfEqual.run(value, key, expected);
      return result.changes === 1;
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#run(() => this.#db.close(), true);
  }

  #run<T>(fn: () => T, closing = false): T {
    if (this.#closed && !closing) throw new StoreError('UNAVAILABLE', `sqlite store ${this.file} is closed`);
    const deadline = performance.now() + this.#busyTimeoutMs;
    for (;;) {
      try {
        return fn();
      } catch (err) {
        // A busy statement or BEGIN IMMEDIATE changed nothing, so trying again is safe.
        if (isBusy(err) && performance.now() < deadline) {
          Atomics.wait(NAP, 0, 0, BUSY_RETRY_MS);
          continue;
        }
        throw toStoreError(err, this.file, this.#busyTimeoutMs);
      }
    }
  }
}

/**
 * better-sqlite3 hands back a fresh Buffer per value; viewing it as a plain Uint8Array makes both
 * backends return the same type, and there is nothing to copy because nobody else holds it.
 */
function fromBuffer(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
