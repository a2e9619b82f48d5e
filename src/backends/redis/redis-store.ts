/**
 * A key-value store in Redis (`[key_value_stores.NAME] backend = "redis"`), served from the main
 * thread over a connection pool. It keeps the store contract (contract.ts) exactly as SQLite
 * does:
 *
 * - values are Redis strings under `prefix + key` (no prefix by default, so a Spin app's Redis
 *   store reads the same keys);
 * - increment is INCRBY, whose idea of a number (canonical decimal, signed 64-bit, no "+", no
 *   leading zero, no "-0") is the one store.ts's parseCounter copies;
 * - compare-and-swap is WATCH, GET, then MULTI/SET/EXEC on a connection of its own: EXEC does
 *   nothing when another client wrote the key in between, and the swap reports a conflict;
 * - list-keys SCANs the keys under the prefix and orders them by UTF-8 bytes (the cost grows with
 *   the store's keys: give a large store a database or prefix of its own).
 *
 * Each call is bounded by the store's `timeoutMs` and by the deadline of the request it serves
 * (deadline.ts). Failures are StoreErrors (UNAVAILABLE, TIMEOUT, NOT_A_NUMBER), which the
 * capability's circuit breaker counts.
 */
import { HostCallError } from '../../capabilities/abi.js';
import { callDeadline } from '../deadline.js';
import { StoreError, checkListLimit, compareUtf8, type KvStore } from '../store.js';
import type { RedisAddress } from './address.js';
import type { Command, RedisConnection } from './connection.js';
import { RedisPool } from './pool.js';
import { RespError, RespStatus, type RespValue } from './resp.js';

export interface RedisStoreOptions {
  address: RedisAddress;
  /** Prepended to every key; '' keeps keys as they are. */
  prefix: string;
  /** Each call, connecting included, within this many milliseconds. */
  timeoutMs: number;
  maxConnections: number;
  idleTimeoutMs: number;
  /** A private CA for rediss (tests). */
  ca?: string | Buffer | undefined;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({
  timeoutMs: 5000,
  maxConnections: 16,
  idleTimeoutMs: 30_000,
});

/** The value limit (1 MiB) with room for the reply's framing: a larger value was not written through Verge. */
const MAX_REPLY_BYTES = 1024 * 1024 + 64 * 1024;
/** Keys asked of SCAN per round trip. */
const SCAN_COUNT = 1000;

const decoder = new TextDecoder('utf-8', { fatal: true });

export function createRedisStore(options: RedisStoreOptions): KvStore {
  const { address, prefix } = options;
  const pool = new RedisPool({ address, maxConnections: options.maxConnections, idleTimeoutMs: options.idleTimeoutMs, maxReplyBytes: MAX_REPLY_BYTES, ca: options.ca });
  const where = `redis store at ${address.shown}`;
  let closed = false;

  const k = (key: string) => prefix + key;

  /** Runs `fn` on a pooled connection within the call's deadline; failures become StoreErrors. */
  async function withConnection<T>(fn: (conn: RedisConnection, deadlineAt: number) => Promise<T>): Promise<T> {
    if (closed) throw new StoreError('UNAVAILABLE', `${where} is closed`);
    const deadlineAt = callDeadline(options.timeoutMs);
    try {
      return await pool.use(deadlineAt, (conn) => fn(conn, deadlineAt));
    } catch (err) {
      if (err instanceof StoreError) throw err;
      // A reply over the cap: a value this large was written by someone else than Verge.
      if (err instanceof HostCallError) throw new StoreError('UNAVAILABLE', `${where}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  async function one(command: Command): Promise<RespValue> {
    return withConnection(async (conn, deadlineAt) => {
      const [reply] = await conn.run([command], deadlineAt);
      return reply!;
    });
  }

  /** A reply that must not be an error reply. */
  function checked(reply: RespValue, what: string): Exclude<RespValue, RespError> {
    if (reply instanceof RespError) throw new StoreError('UNAVAILABLE', `${where}: ${what} failed: ${reply.text.slice(0, 200)}`);
    return reply;
  }

  function bytesOrNull(reply: RespValue, what: string): Uint8Array | undefined {
    const v = checked(reply, what);
    if (v === null) return undefined;
    if (v instanceof Uint8Array) return v;
    throw new StoreError('UNAVAILABLE', `${where}: ${what} answered an unexpected ${kindOf(v)}`);
  }

  function integer(reply: RespValue, what: string): bigint {
    const v = checked(reply, what);
    if (typeof v === 'bigint') return v;
    throw new StoreError('UNAVAILABLE', `${where}: ${what} answered an unexpected ${kindOf(v)}`);
  }

  return {
    kind: 'redis',

    async get(key) {
      return bytesOrNull(await one(['GET', k(key)]), 'GET');
    },

    async set(key, value) {
      checked(await one(['SET', k(key), value]), 'SET');
    },

    async delete(key) {
      return integer(await one(['DEL', k(key)]), 'DEL') > 0n;
    },

    async exists(key) {
      return integer(await one(['EXISTS', k(key)]), 'EXISTS') > 0n;
    },

    async listKeys(listPrefix, after, limit) {
      checkListLimit(limit);
      if (closed) throw new StoreError('UNAVAILABLE', `${where} is closed`);
      if (limit === 0) return [];
      const match = globEscape(prefix + listPrefix) + '*';
      // The `limit` smallest keys after `after`, kept bounded while the scan runs.
      let best = new Set<string>();
      let ceiling: string | undefined;
      const consider = (raw: Uint8Array) => {
        let key: string;
        try {
          key = decoder.decode(raw).slice(prefix.length);
        } catch {
          return; // not UTF-8: not a key this store could have written
        }
        if (after !== undefined && compareUtf8(key, after) <= 0) return;
        if (ceiling !== undefined && compareUtf8(key, ceiling) >= 0) return;
        best.add(key);
        if (best.size > 2 * limit + SCAN_COUNT) {
          const kept = [...best].sort(compareUtf8).slice(0, limit);
          best = new Set(kept);
          ceiling = kept[kept.length - 1];
        }
      };
      await withConnection(async (conn, deadlineAt) => {
        let cursor = '0';
        do {
          const [reply] = await conn.run([['SCAN', cursor, 'MATCH', match, 'COUNT', String(SCAN_COUNT)]], deadlineAt);
          const v = checked(reply!, 'SCAN');
          if (!Array.isArray(v) || !(v[0] instanceof Uint8Array) || !Array.isArray(v[1])) throw new StoreError('UNAVAILABLE', `${where}: SCAN answered an unexpected ${kindOf(v)}`);
          cursor = Buffer.from(v[0]).toString('latin1');
          for (const key of v[1]) if (key instanceof Uint8Array) consider(key);
        } while (cursor !== '0');
      });
      return [...best].sort(compareUtf8).slice(0, limit);
    },

    async increment(key, delta) {
      const reply = await one(['INCRBY', k(key), String(delta)]);
      if (reply instanceof RespError) {
        if (reply.code === 'WRONGTYPE' || /not an integer|out of range|overflow/i.test(reply.text)) {
          throw new StoreError('NOT_A_NUMBER', `cannot increment key ${JSON.stringify(key)} by ${delta}: its value is not a decimal signed 64-bit integer or the result would leave that range (${reply.text.slice(0, 120)})`);
        }
      }
      return integer(reply, 'INCRBY');
    },

    async compareAndSwap(key, expected, value) {
      const full = k(key);
      return withConnection(async (conn, deadlineAt) => {
        const [watched, got] = await conn.run([['WATCH', full], ['GET', full]], deadlineAt);
        checked(watched!, 'WATCH');
        const current = bytesOrNull(got!, 'GET');
        const matches = expected === null ? current === undefined : current !== undefined && bytesEqual(current, expected);
        if (!matches) {
          checked((await conn.run([['UNWATCH']], deadlineAt))[0]!, 'UNWATCH');
          return false;
        }
        const [, queued, exec] = await conn.run([['MULTI'], ['SET', full, value], ['EXEC']], deadlineAt);
        checked(queued!, 'SET in MULTI');
        // EXEC answers nil when a watched key changed since WATCH: someone else wrote it first.
        const done = checked(exec!, 'EXEC');
        if (done === null) return false;
        if (Array.isArray(done) && done[0] instanceof RespStatus) return true;
        throw new StoreError('UNAVAILABLE', `${where}: EXEC answered an unexpected ${kindOf(done)}`);
      });
    },

    async close() {
      closed = true;
      pool.close();
    },
  };
}

/** Redis MATCH patterns treat * ? [ ] \ specially; a prefix matches literally. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function kindOf(v: RespValue): string {
  if (v === null) return 'nil';
  if (typeof v === 'bigint') return 'integer';
  if (v instanceof Uint8Array) return 'bulk string';
  if (v instanceof RespStatus) return `status "${v.text.slice(0, 40)}"`;
  if (v instanceof RespError) return 'error';
  return 'array';
}
