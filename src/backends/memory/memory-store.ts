import { StoreError, checkListLimit, compareUtf8, nextCounter, type KvStore } from '../store.js';

/**
 * A store in a Map, for `verge dev`, tests and apps that do not need their data to outlive the
 * process. Every method body runs without an await, so each one is atomic on its own.
 */
export function createMemoryStore(): KvStore {
  const entries = new Map<string, Uint8Array>();
  let closed = false;

  function open(): Map<string, Uint8Array> {
    if (closed) throw new StoreError('UNAVAILABLE', 'memory store is closed');
    return entries;
  }

  return {
    kind: 'memory',

    async get(key) {
      const value = open().get(key);
      // Copied out as well as in: a caller that writes into what it got must not change the store.
      return value === undefined ? undefined : copy(value);
    },

    async set(key, value) {
      open().set(key, copy(value));
    },

    async delete(key) {
      return open().delete(key);
    },

    async exists(key) {
      return open().has(key);
    },

    async listKeys(prefix, after, limit) {
      checkListLimit(limit);
      // A full sort per page is fine at the sizes a memory store holds; an ordered index would
      // cost every set to speed up a call that dev apps make rarely.
      const keys: string[] = [];
      for (const key of open().keys()) {
        if (key.startsWith(prefix) && (after === undefined || compareUtf8(key, after) > 0)) keys.push(key);
      }
      return keys.sort(compareUtf8).slice(0, limit);
    },

    async increment(key, delta) {
      const store = open();
      const next = nextCounter(key, store.get(key), delta);
      store.set(key, next.bytes);
      return next.value;
    },

    async compareAndSwap(key, expected, value) {
      const store = open();
      const current = store.get(key);
      const matches = expected === null ? current === undefined : current !== undefined && bytesEqual(current, expected);
      if (matches) store.set(key, copy(value));
      return matches;
    },

    async close() {
      closed = true;
      entries.clear();
    },
  };
}

/** `new Uint8Array(bytes)` rather than `bytes.slice()`: on a Buffer, slice returns a view, not a copy. */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
