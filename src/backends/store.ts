/**
 * The key-value store contract every backend implements (memory, SQLite; later Redis, NATS).
 *
 * Keys are strings the caller has already checked to be UTF-8 within the key limit; values are
 * bytes the caller has checked against the value limit. Backends enforce no limits of their own:
 * the capability layer owns the named limits so every backend refuses the same things with the
 * same message. contract.ts is the test suite every backend runs.
 */
import { HostCallError } from '../capabilities/abi.js';

export interface KvStore {
  readonly kind: string;
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  /** Resolves true if the key existed. */
  delete(key: string): Promise<boolean>;
  exists(key: string): Promise<boolean>;
  /**
   * Keys starting with `prefix`, strictly after `after`, in ascending UTF-8 byte order (not the
   * UTF-16 order of JS string comparison: they differ for characters from U+E000 up against
   * astral ones), at most `limit` of them.
   */
  listKeys(prefix: string, after: string | undefined, limit: number): Promise<string[]>;
  /**
   * Atomic. A missing key counts as 0; the result is stored as decimal ASCII ("42") and returned.
   * A current value that is not a canonical decimal signed 64-bit integer, or a result outside
   * that range, is StoreError NOT_A_NUMBER and leaves the value unchanged.
   */
  increment(key: string, delta: bigint): Promise<bigint>;
  /** Atomic. `expected === null` means the key must not exist. Resolves true if it swapped. */
  compareAndSwap(key: string, expected: Uint8Array | null, value: Uint8Array): Promise<boolean>;
  /** Idempotent. Later calls on the store fail with StoreError UNAVAILABLE. */
  close(): Promise<void>;
}

/** The same contract, synchronous: SQLite implements it so worker threads can call it directly. */
export interface SyncKvStore {
  readonly kind: string;
  get(key: string): Uint8Array | undefined;
  set(key: string, value: Uint8Array): void;
  delete(key: string): boolean;
  exists(key: string): boolean;
  listKeys(prefix: string, after: string | undefined, limit: number): string[];
  increment(key: string, delta: bigint): bigint;
  compareAndSwap(key: string, expected: Uint8Array | null, value: Uint8Array): boolean;
  close(): void;
  /**
   * The thread's JavaScript was stopped from outside in the middle of an operation (a chained
   * callee past its deadline, sandbox/chained.ts), so no catch or finally of it ran: whatever it
   * left open (a transaction) is undone. The operation was never acknowledged.
   */
  recover?(): void;
}

/**
 * UNAVAILABLE: the backend is failing (I/O error, disk full, corrupt, closed, circuit open).
 * TIMEOUT: the backend did not answer in time (for SQLite: a lock held past the busy timeout).
 * NOT_A_NUMBER: increment of a value that is not a decimal 64-bit integer — the guest's doing.
 * CONFLICT: an atomic operation a backend builds from compare-and-swap (NATS's increment) lost to
 *   other writers more times than its bound; the value is unchanged and the call may be retried.
 */
export type StoreErrorReason = 'UNAVAILABLE' | 'TIMEOUT' | 'NOT_A_NUMBER' | 'CONFLICT';

/** A store's failure, in the guest-facing error family: its reason is the status the guest gets. */
export class StoreError extends HostCallError {
  constructor(reason: StoreErrorReason, message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
    this.name = 'StoreError';
  }

  get reason(): StoreErrorReason {
    return this.status as StoreErrorReason;
  }
}

export function isStoreError(err: unknown, reason?: StoreErrorReason): err is StoreError {
  return err instanceof StoreError && (reason === undefined || err.reason === reason);
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
/** "-9223372036854775808": no canonical int64 is longer, so longer values are refused unparsed. */
const INT64_MAX_DIGITS = 20;

/**
 * Parses a stored counter. Only the canonical form counts — an optional '-', then digits with no
 * leading zero, no '+', no spaces, no "-0" — because that is exactly what Redis INCRBY accepts,
 * and a later Redis backend must agree with this one about what is a number.
 */
export function parseCounter(bytes: Uint8Array): bigint | undefined {
  const n = bytes.length;
  if (n === 0 || n > INT64_MAX_DIGITS) return undefined;
  const negative = bytes[0] === 0x2d; // '-'
  const first = negative ? 1 : 0;
  if (first === n) return undefined;
  const lead = bytes[first]!;
  if (lead === 0x30 /* '0' */ && n > 1) return undefined; // "01", "-0", "-01"
  for (let i = first; i < n; i++) {
    const b = bytes[i]!;
    if (b < 0x30 || b > 0x39) return undefined;
  }
  const value = BigInt(String.fromCharCode(...bytes));
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
}

/**
 * The one rule both backends apply inside their atomic section: the new counter and its stored
 * bytes, or NOT_A_NUMBER.
 */
export function nextCounter(key: string, current: Uint8Array | undefined, delta: bigint): { value: bigint; bytes: Uint8Array } {
  if (delta < INT64_MIN || delta > INT64_MAX) {
    // The ABI passes an i64, so only a bug in the caller gets here.
    throw new RangeError(`increment delta ${delta} is outside the signed 64-bit range`);
  }
  const base = current === undefined ? 0n : parseCounter(current);
  if (base === undefined) {
    throw new StoreError('NOT_A_NUMBER', `cannot increment key ${JSON.stringify(key)}: its value is not a decimal signed 64-bit integer`);
  }
  const value = base + delta;
  if (value < INT64_MIN || value > INT64_MAX) {
    throw new StoreError('NOT_A_NUMBER', `cannot increment key ${JSON.stringify(key)} by ${delta}: the result would leave the signed 64-bit range [${INT64_MIN}, ${INT64_MAX}]`);
  }
  return { value, bytes: encodeAscii(String(value)) };
}

function encodeAscii(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * Compares two well-formed strings in UTF-8 byte order, which is Unicode code point order. JS `<`
 * compares UTF-16 code units and puts U+E000..U+FFFF after astral characters; comparing the
 * code points at the first differing index fixes exactly that case without encoding anything.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  if (i === n) return a.length - b.length;
  // If i sits on a low surrogate, both high surrogates before it were equal, so the code unit
  // codePointAt returns still orders correctly.
  return a.codePointAt(i)! - b.codePointAt(i)!;
}

/** Rejects a limit SQLite would read as "no limit" (negative) or silently truncate. */
export function checkListLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`listKeys limit must be a non-negative integer, got ${limit}`);
  }
}

/**
 * The async contract over a synchronous store. The call runs at once, on the caller's stack, so
 * the atomicity of each synchronous method carries over unchanged; a throw becomes a rejection.
 */
export function asyncView(store: SyncKvStore): KvStore {
  return {
    kind: store.kind,
    get: async (key) => store.get(key),
    set: async (key, value) => store.set(key, value),
    delete: async (key) => store.delete(key),
    exists: async (key) => store.exists(key),
    listKeys: async (prefix, after, limit) => store.listKeys(prefix, after, limit),
    increment: async (key, delta) => store.increment(key, delta),
    compareAndSwap: async (key, expected, value) => store.compareAndSwap(key, expected, value),
    close: async () => store.close(),
  };
}
