/**
 * A key-value store in a NATS JetStream key-value bucket (`[key_value_stores.NAME] backend =
 * "nats"`), served from the main thread over one connection per server (connections.ts). It keeps
 * the store contract (contract.ts) exactly as SQLite does:
 *
 * - keys are stored encoded (key-codec.ts): any UTF-8 key becomes a NATS-safe token, in order;
 * - reads go to the stream's leader (`allow_direct` off), so a read sees every acknowledged write;
 * - compare-and-swap reads the key's entry and writes with its revision as the expected last
 *   sequence; a write in between fails that write, the key is read again, and the swap reports
 *   false only once the value it read no longer matches (so a rewrite of the same bytes does not
 *   fail a swap);
 * - increment has no server-side counterpart in NATS: it is the same read-and-write-at-revision
 *   loop, taken in turn per key within this process and given up after CAS_ATTEMPTS with CONFLICT;
 * - list-keys lists every key of the bucket with one stream-info request (no consumer: a NATS 2.9
 *   server with one of three servers down left a third of consumer-based listings unanswered,
 *   stream-reads.ts), orders them by UTF-8 bytes and reads them in that order until `limit` hold a
 *   value (a deleted key keeps a marker): the cost grows with the bucket, so give a large store a
 *   bucket of its own.
 *
 * Each call is bounded by the store's `timeoutMs` and by the deadline of the request it serves
 * (deadline.ts). Failures are StoreErrors (UNAVAILABLE, TIMEOUT, NOT_A_NUMBER, CONFLICT), which
 * the capability's circuit breaker counts (the first two only).
 */
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { callDeadline } from '../deadline.js';
import { StoreError, checkListLimit, compareUtf8, nextCounter, type KvStore } from '../store.js';
import type { NatsAddress } from './address.js';
import { NatsUnavailable, sharedConnection } from './connections.js';
import { decodeKey, encodeKey } from './key-codec.js';
import { kvKeys } from './stream-reads.js';
import { NATS_STORE_DEFAULTS } from './defaults.js';

export interface NatsStoreOptions {
  address: NatsAddress;
  bucket: string;
  replicas: number;
  /** Each call, connecting included, within this many milliseconds. */
  timeoutMs: number;
}

export { NATS_STORE_DEFAULTS };

/** Keys read at once while listing, to tell which of the listed ones hold a value. */
const LIST_READS = 32;
/** Room for the subject and headers beside a value in one message. */
const MESSAGE_OVERHEAD = 2048;

export function createNatsStore(options: NatsStoreOptions): KvStore {
  const { address, bucket } = options;
  const connection = sharedConnection(address);
  const where = `nats store (bucket ${bucket} at ${address.shown})`;
  let closed = false;
  let opened: { nc: NatsConnection; kv: Promise<KV>; jsm?: Promise<JetStreamManager> } | undefined;
  /** Increments of one key in this process, in turn: they would only fail each other's writes. */
  const turns = new Map<string, Promise<unknown>>();

  async function bucketOn(nc: NatsConnection): Promise<KV> {
    const js = jetstream(nc, { timeout: options.timeoutMs });
    const kv = await new Kvm(js).create(bucket, {
      replicas: options.replicas,
      history: 1,
      storage: StorageType.File,
      // Direct gets may be answered by any replica, a read that can miss an acknowledged write.
      allow_direct: false,
      timeout: options.timeoutMs,
    });
    const status = await kv.status();
    if (status.replicas !== options.replicas) {
      throw new StoreError('UNAVAILABLE', `${where}: the bucket exists with ${status.replicas} replica(s), the manifest asks for ${options.replicas}; change the bucket (nats kv edit) or name another one`);
    }
    return kv;
  }

  async function kvFor(deadlineAt: number): Promise<KV> {
    const nc = await connection.get(deadlineAt);
    if (opened?.nc !== nc) {
      const kv = bucketOn(nc);
      opened = { nc, kv };
      // A bucket that failed to open is tried again on the next call.
      kv.catch(() => {
        if (opened?.kv === kv) opened = undefined;
      });
    }
    return opened.kv;
  }

  /** A manager on the bucket's connection, for listing (making one sends no request). */
  function manager(): Promise<JetStreamManager> {
    const o = opened;
    if (!o) throw new StoreError('UNAVAILABLE', `${where}: not connected`);
    return (o.jsm ??= jetstreamManager(o.nc, { timeout: options.timeoutMs, checkAPI: false }));
  }

  /** Runs `fn` within the call's deadline; failures become StoreErrors. */
  async function run<T>(what: string, fn: (kv: KV, deadlineAt: number) => Promise<T>): Promise<T> {
    if (closed) throw new StoreError('UNAVAILABLE', `${where} is closed`);
    const deadlineAt = callDeadline(options.timeoutMs);
    const budget = Math.max(0, deadlineAt - Date.now());
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      // The store's timeout_ms or the request's remaining time, whichever was shorter.
      timer = setTimeout(() => reject(new StoreError('TIMEOUT', `${where}: ${what} did not finish within ${budget} ms`)), budget);
    });
    try {
      return await Promise.race([kvFor(deadlineAt).then((kv) => fn(kv, deadlineAt)), expired]);
    } catch (err) {
      throw storeError(err, `${where}: ${what}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async function read(kv: KV, key: string): Promise<KvEntry | null> {
    return kv.get(encodeKey(key));
  }

  /** Writes `value` if the key's last revision is still `revision` (0: the key never existed); false if another write came first. */
  async function writeAt(kv: KV, key: string, value: Uint8Array, revision: number): Promise<boolean> {
    try {
      await kv.put(encodeKey(key), value, { previousSeq: revision });
      return true;
    } catch (err) {
      if (isWrongRevision(err)) return false;
      throw err;
    }
  }

  function checkPayload(value: Uint8Array): void {
    const max = opened?.nc.info?.max_payload;
    if (max !== undefined && value.length + MESSAGE_OVERHEAD > max) {
      throw new StoreError('UNAVAILABLE', `${where}: a value of ${value.length} bytes does not fit the server's max_payload of ${max} bytes; set max_payload to at least 2MB in the NATS server's configuration`);
    }
  }

  /** Calls `step` with a fresh read until it settles, at most casAttempts times, then CONFLICT naming `what`. */
  async function casLoop<T>(kv: KV, key: string, deadlineAt: number, what: string, step: (entry: KvEntry | null) => Promise<{ done: T } | 'retry'>): Promise<T> {
    for (let attempt = 1; attempt <= NATS_STORE_DEFAULTS.casAttempts; attempt++) {
      if (Date.now() >= deadlineAt) break;
      const outcome = await step(await read(kv, key));
      if (outcome !== 'retry') return outcome.done;
      // Other writers won this round: spread the next tries a little so one of us gets through.
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(attempt, 10)));
    }
    throw new StoreError('CONFLICT', `${what} of key ${JSON.stringify(key)} gave up after ${NATS_STORE_DEFAULTS.casAttempts} attempts: other writers changed the key each time (NATS has no atomic add; Verge writes at the revision it read)`);
  }

  /** In turn with the other increments of `key` in this process. */
  function inTurn<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = turns.get(key) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(fn);
    const settled = mine.catch(() => {});
    turns.set(key, settled);
    void settled.then(() => {
      if (turns.get(key) === settled) turns.delete(key);
    });
    return mine;
  }

  return {
    kind: 'nats',

    async get(key) {
      const entry = await run('get', (kv) => read(kv, key));
      return live(entry) ? new Uint8Array(entry.value) : undefined;
    },

    async set(key, value) {
      const copy = new Uint8Array(value);
      await run('set', async (kv) => {
        checkPayload(copy);
        await kv.put(encodeKey(key), copy);
      });
    },

    async delete(key) {
      return run('delete', (kv, deadlineAt) =>
        casLoop(kv, key, deadlineAt, 'delete', async (entry) => {
          if (!live(entry)) return { done: false };
          try {
            await kv.delete(encodeKey(key), { previousSeq: entry.revision });
            return { done: true };
          } catch (err) {
            if (isWrongRevision(err)) return 'retry';
            throw err;
          }
        }),
      );
    },

    async exists(key) {
      return live(await run('exists', (kv) => read(kv, key)));
    },

    async listKeys(prefix, after, limit) {
      checkListLimit(limit);
      if (closed) throw new StoreError('UNAVAILABLE', `${where} is closed`);
      if (limit === 0) return [];
      return run('list-keys', async (kv) => {
        // Every key with a message, deleted ones too (no consumer: stream-reads.ts), in order;
        // then read in that order, LIST_READS at a time, until `limit` of them hold a value.
        const candidates: string[] = [];
        for (const token of await kvKeys(await manager(), bucket)) {
          const key = decodeKey(token);
          // A key another client wrote (not encoded by Verge) is not a key of this store.
          if (key === undefined || !key.startsWith(prefix)) continue;
          if (after !== undefined && compareUtf8(key, after) <= 0) continue;
          candidates.push(key);
        }
        candidates.sort(compareUtf8);
        const keys: string[] = [];
        for (let i = 0; i < candidates.length && keys.length < limit; i += LIST_READS) {
          const some = candidates.slice(i, i + LIST_READS);
          const entries = await Promise.all(some.map((key) => read(kv, key)));
          some.forEach((key, j) => live(entries[j]!) && keys.push(key));
        }
        return keys.slice(0, limit);
      });
    },

    async increment(key, delta) {
      return run('increment', (kv, deadlineAt) =>
        inTurn(key, () =>
          casLoop(kv, key, deadlineAt, 'increment', async (entry) => {
            const current = live(entry) ? entry.value : undefined;
            const next = nextCounter(key, current, delta);
            return (await writeAt(kv, key, next.bytes, entry?.revision ?? 0)) ? { done: next.value } : 'retry';
          }),
        ),
      );
    },

    async compareAndSwap(key, expected, value) {
      const copy = new Uint8Array(value);
      const want = expected === null ? null : new Uint8Array(expected);
      return run('compare-and-swap', (kv, deadlineAt) => {
        checkPayload(copy);
        return casLoop(kv, key, deadlineAt, 'compare-and-swap', async (entry) => {
          const current = live(entry) ? entry.value : undefined;
          const matches = want === null ? current === undefined : current !== undefined && bytesEqual(current, want);
          if (!matches) return { done: false };
          return (await writeAt(kv, key, copy, entry?.revision ?? 0)) ? { done: true } : 'retry';
        });
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      await connection.release();
    },
  };
}

/** An entry holding a value (not a delete or purge marker). */
function live(entry: KvEntry | null): entry is KvEntry {
  return entry !== null && entry.operation === 'PUT';
}

function isWrongRevision(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** A client or server failure as the StoreError a guest gets; `what` says whose call failed. */
function storeError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  if (err instanceof NatsUnavailable) return new StoreError('UNAVAILABLE', `${what}: ${err.message}`, { cause: err });
  const e = err as Error;
  const name = e?.name ?? '';
  if (name === 'TimeoutError') return new StoreError('TIMEOUT', `${what}: NATS did not answer in time`, { cause: err });
  if (name === 'NoRespondersError') return new StoreError('UNAVAILABLE', `${what}: JetStream did not answer (no responders: the stream has no leader or JetStream is off)`, { cause: err });
  return new StoreError('UNAVAILABLE', `${what} failed: ${String(e?.message ?? err).slice(0, 300)}`, { cause: err });
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
