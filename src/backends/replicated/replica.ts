/**
 * A replicated store's local replica: one SQLite file per node and store, the store every read
 * and write of the node's guests goes to, with or without a link to NATS.
 *
 * Tables: `reg` holds each key's register (merge.ts) and its current value, materialized so that
 * get and listKeys read one row as on a plain SQLite store; `cnt` holds the counter entries, one
 * per (key, replica); `outbox` the changes this replica made that JetStream has not acknowledged
 * yet, written in the same transaction as the change, so an acknowledged write is on disk and goes
 * out after a crash; `meta` the replica id, the clock and the stream sequence applied so far.
 * A change queued again before it went out replaces the queued one: each carries a whole state, so
 * only the latest matters, and the queue is bounded by the keys changed, not by the writes.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';
import { loadSqlite } from '../sqlite/errors.js';
import { checkListLimit, compareUtf8, nextCounter, parseCounter, StoreError, type SyncKvStore } from '../store.js';
import { toStoreError } from '../sqlite/errors.js';
import { createHybridClock, NO_STAMP, type HybridClock } from './hlc.js';
import { addToEntry, epochOf, mergeEntry, registerWins, valueOf, type Change, type CounterEntry, type Register } from './merge.js';
import { encodeChange, subjectOf } from './wire.js';

/** A change waiting for JetStream's acknowledgement. */
export interface Queued {
  seq: number;
  subject: string;
  body: Uint8Array;
}

export interface ReplicaStats {
  queued: number;
  /** When the oldest queued change was made (epoch ms), or undefined with none queued. */
  oldestQueuedAt: number | undefined;
  /** The last stream sequence applied here. */
  cursor: number;
  /** The id of the stream it was read from (adoptStream). */
  streamCreated: string | undefined;
}

/** The store contract on the replica; compareAndSwap is atomic against this replica only (docs/cluster.md). */
export interface Replica extends Omit<SyncKvStore, 'kind'> {
  readonly id: string;
  readonly file: string;
  /** Applies changes read from the stream, in one transaction, and records `cursor` as applied. */
  applyRemote(changes: ReadonlyArray<{ change: Change; seq: number }>, cursor: number): void;
  /** The oldest queued changes, at most `limit`. */
  queued(limit: number): Queued[];
  /** JetStream acknowledged it: removed unless a later change of the same subject replaced it. */
  sent(seq: number): void;
  stats(): ReplicaStats;
  /**
   * The stream this replica last read has the id `created` (link.ts). True if that is a stream it never read: it was deleted and made again, or the replica
   * is new. A stream made again lost what it held: the replica then reads it from the start and
   * queues its own writes and counter entries once more, so that every replica puts back its part.
   */
  adoptStream(created: string): boolean;
  /** Removes tombstones older than `retentionMs` (by their stamp) that nothing counts on; returns their keys. */
  expireTombstones(nowMs: number, retentionMs: number): string[];
}

const SQL = `
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reg (key TEXT PRIMARY KEY, value BLOB, stamp TEXT NOT NULL, current BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cnt (key TEXT NOT NULL, replica TEXT NOT NULL, epoch TEXT NOT NULL, p TEXT NOT NULL, n TEXT NOT NULL, PRIMARY KEY (key, replica)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL UNIQUE, body BLOB NOT NULL, queued_at INTEGER NOT NULL);
`;

interface RegRow {
  value: Buffer | null;
  stamp: string;
  current: Buffer | null;
}

interface CntRow {
  replica: string;
  epoch: string;
  p: string;
  n: string;
}

function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Opens (or creates) the replica in `file`; its changes are queued on subjects under `subjectPrefix`. */
export function openReplica(file: string, subjectPrefix: string, now: () => number = Date.now): Replica {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: Database.Database;
  try {
    db = new (loadSqlite())(file, { timeout: 5000 });
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new StoreError('UNAVAILABLE', `replicated store ${file}: the database refused WAL journaling`);
    // FULL: a write the guest was told succeeded (and its queued change) survives a power cut.
    db.pragma('synchronous = FULL');
    db.exec(SQL);
  } catch (err) {
    throw toStoreError(err, file, 5000);
  }

  const getMeta = db.prepare<[string], string>('SELECT value FROM meta WHERE name = ?').pluck();
  const putMeta = db.prepare('INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value');
  const getReg = db.prepare<[string], RegRow>('SELECT value, stamp, current FROM reg WHERE key = ?');
  const getCurrent = db.prepare<[string], Buffer | null>('SELECT current FROM reg WHERE key = ?').pluck();
  const putReg = db.prepare('INSERT INTO reg (key, value, stamp, current) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, stamp = excluded.stamp, current = excluded.current');
  const putCurrent = db.prepare('UPDATE reg SET current = ? WHERE key = ?');
  const entriesOf = db.prepare<[string], CntRow>('SELECT replica, epoch, p, n FROM cnt WHERE key = ?');
  const entryOf = db.prepare<[string, string], CntRow>('SELECT replica, epoch, p, n FROM cnt WHERE key = ? AND replica = ?');
  const putEntry = db.prepare('INSERT INTO cnt (key, replica, epoch, p, n) VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, replica) DO UPDATE SET epoch = excluded.epoch, p = excluded.p, n = excluded.n');
  const dropOldEntries = db.prepare('DELETE FROM cnt WHERE key = ? AND epoch < ?');
  const list = 'SELECT key FROM reg WHERE current IS NOT NULL AND key %LOWER% ? AND key < CAST(? AS TEXT) ORDER BY key LIMIT ?';
  const listFrom = db.prepare<[string, Uint8Array, number], string>(list.replace('%LOWER%', '>=')).pluck();
  const listAfter = db.prepare<[string, Uint8Array, number], string>(list.replace('%LOWER%', '>')).pluck();
  const unqueue = db.prepare<[string], { queued_at: number }>('DELETE FROM outbox WHERE subject = ? RETURNING queued_at');
  const enqueue = db.prepare('INSERT INTO outbox (subject, body, queued_at) VALUES (?, ?, ?)');
  const peek = db.prepare<[number], { seq: number; subject: string; body: Buffer }>('SELECT seq, subject, body FROM outbox ORDER BY seq LIMIT ?');
  const ack = db.prepare('DELETE FROM outbox WHERE seq = ?');
  const outboxStats = db.prepare<[], { queued: number; oldest: number | null }>('SELECT count(*) AS queued, min(queued_at) AS oldest FROM outbox');
  const deadTombstones = db.prepare<[string], { key: string }>(`SELECT key FROM reg WHERE value IS NULL AND current IS NULL AND stamp < ?`);
  const dropReg = db.prepare('DELETE FROM reg WHERE key = ? AND value IS NULL AND current IS NULL');

  const ownRegisters = db.prepare<[string], { key: string; value: Buffer | null; stamp: string }>('SELECT key, value, stamp FROM reg WHERE stamp LIKE ?');
  const ownEntries = db.prepare<[string], CntRow & { key: string }>('SELECT key, replica, epoch, p, n FROM cnt WHERE replica = ?');

  let id = getMeta.get('replica');
  if (id === undefined) {
    // One id per replica file, not per node: a node whose file was lost starts a new counter
    // entry rather than reusing one whose old sums the others still hold.
    id = `r${randomBytes(6).toString('hex')}`;
    putMeta.run('replica', id);
  }
  const replica = id;
  const clock: HybridClock = createHybridClock(replica, now, getMeta.get('clock') ?? NO_STAMP);
  let closed = false;

  const registerOf = (row: RegRow | undefined): Register | undefined => (row === undefined ? undefined : { value: row.value === null ? null : view(row.value), stamp: row.stamp });
  const entryFromRow = (r: CntRow): CounterEntry => ({ replica: r.replica, epoch: r.epoch, p: BigInt(r.p), n: BigInt(r.n) });

  /** Recomputes and stores the key's current value from its register and entries. */
  function refresh(key: string): void {
    const register = registerOf(getReg.get(key));
    const value = valueOf(register, entriesOf.all(key).map(entryFromRow), parseCounter);
    if (register === undefined) {
      // Entries on a key never written: the register is the empty epoch.
      if (value !== undefined) putReg.run(key, null, NO_STAMP, value);
      return;
    }
    putCurrent.run(value === undefined ? null : value, key);
  }

  function queue(change: Change): void {
    const subject = subjectOf(subjectPrefix, change);
    const previous = unqueue.get(subject);
    enqueue.run(subject, encodeChange(change), previous?.queued_at ?? now());
  }

  /** Queues every write and counter entry this replica made that the state still holds. */
  function requeueOwn(): void {
    for (const row of ownRegisters.all(`%.${replica}`)) {
      queue({ kind: 'register', key: row.key, origin: replica, register: { value: row.value === null ? null : view(row.value), stamp: row.stamp } });
    }
    for (const row of ownEntries.all(replica)) queue({ kind: 'counter', key: row.key, entry: entryFromRow(row) });
  }

  function writeRegister(key: string, value: Uint8Array | null): void {
    const stamp = clock.now();
    putReg.run(key, value, stamp, value);
    dropOldEntries.run(key, stamp);
    putMeta.run('clock', clock.last());
    queue({ kind: 'register', key, origin: replica, register: { value, stamp } });
  }

  function applyOne(change: Change): void {
    if (change.kind === 'register') {
      clock.observe(change.register.stamp);
      const row = getReg.get(change.key);
      if (!registerWins(change.register, registerOf(row))) return;
      putReg.run(change.key, change.register.value, change.register.stamp, null);
      dropOldEntries.run(change.key, change.register.stamp);
      refresh(change.key);
      return;
    }
    const { key, entry } = change;
    // An entry counting on an older register than the key's no longer counts.
    if (entry.epoch < epochOf(registerOf(getReg.get(key)))) return;
    const current = entryOf.get(key, entry.replica);
    const merged = mergeEntry(entry, current && entryFromRow(current));
    if (merged === undefined) return;
    putEntry.run(key, merged.replica, merged.epoch, String(merged.p), String(merged.n));
    refresh(key);
  }

  const tx = {
    set: db.transaction((key: string, value: Uint8Array) => writeRegister(key, value)),
    delete: db.transaction((key: string): boolean => {
      if (getCurrent.get(key) == null) return false;
      writeRegister(key, null);
      return true;
    }),
    increment: db.transaction((key: string, delta: bigint): bigint => {
      const current = getCurrent.get(key);
      const next = nextCounter(key, current == null ? undefined : view(current), delta);
      const epoch = epochOf(registerOf(getReg.get(key)));
      const mine = entryOf.get(key, replica);
      const entry = addToEntry(mine && entryFromRow(mine), replica, epoch, delta);
      putEntry.run(key, replica, entry.epoch, String(entry.p), String(entry.n));
      refresh(key);
      queue({ kind: 'counter', key, entry });
      return next.value;
    }),
    compareAndSwap: db.transaction((key: string, expected: Uint8Array | null, value: Uint8Array): boolean => {
      const current = getCurrent.get(key);
      const matches = expected === null ? current == null : current != null && Buffer.compare(current, expected) === 0;
      if (matches) writeRegister(key, value);
      return matches;
    }),
    apply: db.transaction((changes: ReadonlyArray<{ change: Change; seq: number }>, cursor: number) => {
      for (const { change } of changes) applyOne(change);
      putMeta.run('clock', clock.last());
      putMeta.run('cursor', String(cursor));
    }),
  };

  function run<T>(fn: () => T): T {
    if (closed) throw new StoreError('UNAVAILABLE', `replicated store ${file} is closed`);
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError || err instanceof RangeError) throw err;
      throw toStoreError(err, file, 5000);
    }
  }

  return {
    id: replica,
    file,
    get: (key) => run(() => {
      const v = getCurrent.get(key);
      return v == null ? undefined : view(v);
    }),
    // A copy: the caller's array may be a view on a buffer it goes on changing.
    set: (key, value) => run(() => tx.set(key, new Uint8Array(value))),
    delete: (key) => run(() => tx.delete(key)),
    exists: (key) => run(() => getCurrent.get(key) != null),
    listKeys(prefix, after, limit) {
      checkListLimit(limit);
      return run(() => {
        if (limit === 0) return [];
        const upper = Buffer.concat([Buffer.from(prefix, 'utf8'), Buffer.of(0xff)]);
        return after !== undefined && compareUtf8(after, prefix) >= 0 ? listAfter.all(after, upper, limit) : listFrom.all(prefix, upper, limit);
      });
    },
    increment: (key, delta) => run(() => tx.increment(key, delta)),
    compareAndSwap: (key, expected, value) => run(() => tx.compareAndSwap(key, expected === null ? null : new Uint8Array(expected), new Uint8Array(value))),
    applyRemote: (changes, cursor) => run(() => tx.apply(changes, cursor)),
    queued: (limit) => run(() => peek.all(limit).map((r) => ({ seq: r.seq, subject: r.subject, body: view(r.body) }))),
    sent: (seq) => run(() => void ack.run(seq)),
    stats: () => run(() => {
      const s = outboxStats.get()!;
      return { queued: s.queued, oldestQueuedAt: s.oldest ?? undefined, cursor: Number(getMeta.get('cursor') ?? 0), streamCreated: getMeta.get('stream_created') };
    }),
    adoptStream: (created) =>
      run(() =>
        db.transaction((): boolean => {
          const known = getMeta.get('stream_created');
          if (known === created) return false;
          putMeta.run('stream_created', created);
          putMeta.run('cursor', '0');
          // A new replica has nothing of its own yet; one that read another stream re-sends its part.
          if (known !== undefined) requeueOwn();
          return true;
        })(),
      ),
    expireTombstones(nowMs, retentionMs) {
      return run(() => {
        const before = Math.max(0, nowMs - retentionMs);
        // Stamps sort by their wall time first: any stamp below this one's is older than the bound.
        const bound = `${before.toString(16).padStart(12, '0')}`;
        const keys = deadTombstones.all(bound).map((r) => r.key);
        db.transaction(() => {
          for (const k of keys) {
            dropReg.run(k);
            dropOldEntries.run(k, '\uffff');
          }
        })();
        return keys;
      });
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
