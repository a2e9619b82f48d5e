import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import vm from 'node:vm';
import Database from 'better-sqlite3';
import { storeContract } from '../contract.js';
import { StoreError, type KvStore, type StoreErrorReason, type SyncKvStore } from '../store.js';
import { toStoreError } from './errors.js';
import { SQLITE_DEFAULTS, openSqliteStore } from './sqlite-store.js';
import type { WorkerFixtureData, WorkerFixtureReport } from './sqlite-worker.fixture.js';
import { valueFor } from './sqlite-writer.fixture.js';

const root = mkdtempSync(path.join(tmpdir(), 'verge-sqlite-'));
after(() => rmSync(root, { recursive: true, force: true }));

let files = 0;
/** A path to a file that does not exist yet, in a folder that does not exist yet either. */
function freshFile(): string {
  files += 1;
  return path.join(root, `case-${files}`, 'data', 'kv.sqlite');
}

/**
 * The synchronous API behind Promises that call it from a later macrotask, so concurrent calls
 * reach the connection in a different order than through the store's own `async` view.
 */
function deferred(store: SyncKvStore): KvStore {
  const later = <T>(fn: () => T): Promise<T> =>
    new Promise((resolve, reject) =>
      setImmediate(() => {
        try {
          resolve(fn());
        } catch (err) {
          reject(err);
        }
      }),
    );
  return {
    kind: store.kind,
    get: (key) => later(() => store.get(key)),
    set: (key, value) => later(() => store.set(key, value)),
    delete: (key) => later(() => store.delete(key)),
    exists: (key) => later(() => store.exists(key)),
    listKeys: (prefix, after, limit) => later(() => store.listKeys(prefix, after, limit)),
    increment: (key, delta) => later(() => store.increment(key, delta)),
    compareAndSwap: (key, expected, value) => later(() => store.compareAndSwap(key, expected, value)),
    close: () => later(() => store.close()),
  };
}

storeContract('sqlite', async () => openSqliteStore(freshFile()).async);
storeContract('sqlite sync API (deferred Promise wrapper)', async () => deferred(openSqliteStore(freshFile())));

function storeErrorOf(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a StoreError to be thrown');
}

const text = (value: Uint8Array | undefined): string | undefined => (value === undefined ? undefined : new TextDecoder().decode(value));
const bytes = (value: string): Uint8Array => new TextEncoder().encode(value);

describe('sqlite store on a file', () => {
  test('opening creates the missing parent folders and a WAL database with synchronous FULL', () => {
    const file = freshFile();
    const store = openSqliteStore(file);
    store.set('k', bytes('v'));
    store.close();
    const raw = new Database(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const columns = raw.prepare('SELECT name, type, pk FROM pragma_table_info(?)').all('kv');
      assert.deepEqual(columns, [
        { name: 'key', type: 'TEXT', pk: 1 },
        { name: 'value', type: 'BLOB', pk: 0 },
      ]);
    } finally {
      raw.close();
    }
    // journal_mode is stored in the file; synchronous and busy_timeout belong to each connection.
    const again = openSqliteStore(file);
    assert.deepEqual(again.settings, { journalMode: 'wal', synchronous: 'FULL', busyTimeoutMs: 250 });
    assert.equal(text(again.get('k')), 'v');
    again.close();
  });

  test('an increment stopped from outside mid-transaction leaves it open until recover() rolls it back; then another connection writes at once and the store goes on', () => {
    const file = freshFile();
    const store = openSqliteStore(file);
    const other = new Database(file, { timeout: 0 });
    const write = other.prepare("INSERT INTO kv (key, value) VALUES ('other', x'00') ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    const writes = (): boolean => {
      try {
        write.run();
        return true;
      } catch {
        return false;
      }
    };
    // A chained callee past its deadline is stopped this way (node:vm's timeout), wherever it is: poll until one stop lands inside an increment's transaction.
    const context = vm.createContext({ increment: () => store.increment('n', 1n) });
    const loop = new vm.Script('for (;;) increment()');
    let caught = 0;
    try {
      for (let i = 0; i < 5000 && caught < 3; i++) {
        assert.throws(() => loop.runInContext(context, { timeout: 2 }), { code: 'ERR_SCRIPT_EXECUTION_TIMEOUT' });
        if (!writes()) caught++;
        store.recover?.();
        assert.ok(writes(), 'another connection could not write after recover()');
      }
      assert.ok(caught > 0, 'no stop landed inside a transaction in 5000 tries');
      const before = store.increment('n', 1n);
      assert.equal(store.increment('n', 1n), before + 1n);
    } finally {
      other.close();
      store.close();
    }
  });

  test('the default busy timeout is 250 ms', () => {
    assert.equal(SQLITE_DEFAULTS.busyTimeoutMs, 250);
  });

  test('a write through one connection is read at once through another', () => {
    const file = freshFile();
    const a = openSqliteStore(file);
    const b = openSqliteStore(file);
    try {
      a.set('k', bytes('from a'));
      assert.equal(text(b.get('k')), 'from a');
      assert.deepEqual(b.listKeys('', undefined, 10), ['k']);
      assert.equal(b.delete('k'), true);
      assert.equal(a.exists('k'), false);
    } finally {
      a.close();
      b.close();
    }
  });

  test('two connections interleaving increments on one file stay exact', () => {
    const file = freshFile();
    const a = openSqliteStore(file);
    const b = openSqliteStore(file);
    try {
      for (let i = 0; i < 100; i++) {
        a.increment('n', 1n);
        b.increment('n', 2n);
      }
      assert.equal(a.increment('n', 0n), 300n);
      assert.equal(text(b.get('n')), '300');
    } finally {
      a.close();
      b.close();
    }
  });

  test('compare-and-swap with a value another connection has since replaced does not swap', () => {
    const file = freshFile();
    const a = openSqliteStore(file);
    const b = openSqliteStore(file);
    try {
      a.set('k', bytes('v1'));
      const seen = a.get('k')!;
      assert.equal(b.compareAndSwap('k', seen, bytes('v2 by b')), true);
      assert.equal(a.compareAndSwap('k', seen, bytes('v2 by a')), false);
      assert.equal(text(a.get('k')), 'v2 by b');
      assert.equal(a.compareAndSwap('fresh', null, bytes('a')), true);
      assert.equal(b.compareAndSwap('fresh', null, bytes('b')), false);
    } finally {
      a.close();
      b.close();
    }
  });

  test('increments from 4 worker threads, each with its own connection to a fresh file, are exact', async () => {
    const file = freshFile();
    const perWorker = 250;
    // The file does not exist yet: the workers also race to create it, as Verge's workers may.
    // Four threads incrementing in a tight loop keep the write lock busy nearly all the time, and
    // SQLite's busy handler polls at growing intervals, so the default 250 ms can run out (about
    // one increment in a few thousand): this test is about exactness, not latency.
    const workers = Array.from({ length: 4 }, () => {
      const data: WorkerFixtureData = { file, key: 'hits', count: perWorker, busyTimeoutMs: 10_000 };
      return new Worker(new URL('./sqlite-worker.fixture.js', import.meta.url), { workerData: data });
    });
    const next = (worker: Worker): Promise<WorkerFixtureReport> =>
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    try {
      const ready = await Promise.all(workers.map(next));
      for (const report of ready) assert.equal(report.t, 'ready', report.t === 'failed' ? `${report.reason}: ${report.message}` : undefined);
      const done = workers.map(next);
      for (const worker of workers) worker.postMessage('go');
      const reports = await Promise.all(done);
      const results: bigint[] = [];
      for (const report of reports) {
        assert.equal(report.t, 'done', report.t === 'failed' ? `${report.reason}: ${report.message}` : undefined);
        if (report.t === 'done') results.push(...report.results);
      }
      // Every increment saw a distinct value: none read a counter another had not yet committed.
      assert.deepEqual(results.sort((x, y) => Number(x - y)), Array.from({ length: 4 * perWorker }, (_, i) => BigInt(i + 1)));
      const store = openSqliteStore(file);
      assert.equal(text(store.get('hits')), String(4 * perWorker));
      store.close();
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });

  // What this proves: a set returns only once its transaction is committed to the WAL, with
  // nothing buffered in the process. It cannot tell synchronous FULL from NORMAL or even OFF —
  // the kernel's page cache outlives a killed process; only a power loss would show the
  // difference — so the first test in this block checks the pragma itself.
  test('every acknowledged write survives kill -9 of the writing process', async () => {
    const file = freshFile();
    const fixture = fileURLToPath(new URL('./sqlite-writer.fixture.js', import.meta.url));
    const child = spawn(process.execPath, [fixture, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('close', (code, signal) => resolve({ code, signal })),
    );
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        // Kill mid-stream, once enough writes are acknowledged to make the check mean something.
        if (!child.killed && child.exitCode === null && (stdout.match(/^ACK /gm)?.length ?? 0) >= 200) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      void exited.then(() => resolve());
    });
    const { signal } = await exited;
    assert.equal(signal, 'SIGKILL', `the writer must die by SIGKILL mid-stream; stderr: ${stderr}`);

    const acked = [...stdout.matchAll(/^ACK (\d+)$/gm)].map((m) => Number(m[1]));
    assert.ok(acked.length >= 200, `saw ${acked.length} ACKs`);
    assert.deepEqual(acked, acked.map((_, i) => i), 'ACKs arrive in order');
    const store = openSqliteStore(file);
    try {
      for (const i of acked) {
        const value = store.get(`key/${i}`);
        assert.ok(value !== undefined, `acknowledged write key/${i} was lost`);
        assert.deepEqual(Buffer.from(value), Buffer.from(valueFor(i)));
      }
    } finally {
      store.close();
    }
  });

  test('a write while another connection holds the write lock fails with TIMEOUT, reads still answer, and writes succeed once it is released', () => {
    const file = freshFile();
    const store = openSqliteStore(file, { busyTimeoutMs: 100 });
    store.set('k', bytes('before'));
    const locker = new Database(file);
    try {
      locker.exec('BEGIN EXCLUSIVE');
      locker.prepare('INSERT INTO kv (key, value) VALUES (?, ?)').run('locker', Buffer.from('x'));

      for (const write of [
        () => store.set('k', bytes('during')),
        () => store.increment('n', 1n),
        () => store.compareAndSwap('k', bytes('before'), bytes('during')),
        () => store.delete('k'),
      ]) {
        const err = storeErrorOf(write);
        assert.equal(err.reason, 'TIMEOUT');
        assert.match(err.message, /busy timeout of 100 ms/);
        assert.ok(err.cause instanceof Database.SqliteError);
        assert.match(err.cause.code, /^SQLITE_BUSY/);
      }
      // WAL: readers see the last committed state while a writer holds the lock.
      assert.equal(text(store.get('k')), 'before');
      assert.equal(store.exists('locker'), false);

      locker.exec('COMMIT');
      store.set('k', bytes('after'));
      assert.equal(store.increment('n', 1n), 1n);
      assert.equal(text(store.get('k')), 'after');
      assert.equal(store.exists('locker'), true);
    } finally {
      if (locker.inTransaction) locker.exec('ROLLBACK');
      locker.close();
      store.close();
    }
  });

  test('the default busy timeout turns a held lock into TIMEOUT', () => {
    const file = freshFile();
    const store = openSqliteStore(file);
    const locker = new Database(file);
    try {
      locker.exec('BEGIN IMMEDIATE');
      const started = performance.now();
      const err = storeErrorOf(() => store.set('k', bytes('v')));
      const waited = performance.now() - started;
      assert.equal(err.reason, 'TIMEOUT');
      assert.match(err.message, /busy timeout of 250 ms/);
      // Only that it waited at all: a loaded machine may wait much longer than 250 ms.
      assert.ok(waited >= 100, `gave up after ${waited.toFixed(0)} ms`);
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
      store.close();
    }
  });

  test('a file that is not a SQLite database fails to open with UNAVAILABLE, keeping the cause', () => {
    const file = freshFile();
    openSqliteStore(file).close();
    writeFileSync(file, Buffer.alloc(8192, 'not a database '));
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    const err = storeErrorOf(() => openSqliteStore(file));
    assert.equal(err.reason, 'UNAVAILABLE');
    assert.ok(err.cause instanceof Database.SqliteError);
    assert.equal(err.cause.code, 'SQLITE_NOTADB');
    assert.ok(err.message.includes(file), err.message);
  });

  test('a path whose parent is a regular file fails to open with UNAVAILABLE', () => {
    const file = freshFile();
    openSqliteStore(file).close();
    const err = storeErrorOf(() => openSqliteStore(path.join(file, 'nested', 'kv.sqlite')));
    assert.equal(err.reason, 'UNAVAILABLE');
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOTDIR');
  });

  test('a negative busy timeout is refused at open', () => {
    assert.throws(() => openSqliteStore(freshFile(), { busyTimeoutMs: -1 }), RangeError);
  });
});

describe('sqlite error mapping', () => {
  const cases: Array<[code: string, reason: StoreErrorReason]> = [
    ['SQLITE_BUSY', 'TIMEOUT'],
    ['SQLITE_BUSY_SNAPSHOT', 'TIMEOUT'],
    ['SQLITE_BUSY_RECOVERY', 'TIMEOUT'],
    ['SQLITE_LOCKED', 'TIMEOUT'],
    ['SQLITE_LOCKED_SHAREDCACHE', 'TIMEOUT'],
    ['SQLITE_READONLY', 'UNAVAILABLE'],
    ['SQLITE_READONLY_DBMOVED', 'UNAVAILABLE'],
    ['SQLITE_IOERR', 'UNAVAILABLE'],
    ['SQLITE_IOERR_FSYNC', 'UNAVAILABLE'],
    ['SQLITE_CANTOPEN', 'UNAVAILABLE'],
    ['SQLITE_FULL', 'UNAVAILABLE'],
    ['SQLITE_CORRUPT', 'UNAVAILABLE'],
    ['SQLITE_NOTADB', 'UNAVAILABLE'],
  ];
  for (const [code, reason] of cases) {
    test(`${code} becomes StoreError ${reason} with the SQLite error as its cause`, () => {
      const cause = new Database.SqliteError(`fake ${code}`, code);
      const mapped = toStoreError(cause, '/data/kv.sqlite', 250);
      assert.ok(mapped instanceof StoreError);
      assert.equal(mapped.reason, reason);
      assert.equal(mapped.cause, cause);
      assert.ok(mapped.message.includes('/data/kv.sqlite'), mapped.message);
    });
  }

  test('errors that are bugs in Verge (constraint, SQL, binding) pass through unchanged', () => {
    for (const err of [new Database.SqliteError('NOT NULL constraint failed', 'SQLITE_CONSTRAINT_NOTNULL'), new Database.SqliteError('syntax', 'SQLITE_ERROR'), new TypeError('bad binding')]) {
      assert.equal(toStoreError(err, '/data/kv.sqlite', 250), err);
    }
  });

  test('SQLITE_BUSYX is not mistaken for SQLITE_BUSY', () => {
    const err = new Database.SqliteError('made up', 'SQLITE_BUSYX');
    assert.equal(toStoreError(err, '/data/kv.sqlite', 250), err);
  });
});
