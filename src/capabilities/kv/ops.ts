/**
 * Applies one KV operation to a store. The same function serves a synchronous store inside a
 * worker (SQLite) and an asynchronous one on the main thread (memory, later Redis and NATS), so
 * both paths have one behaviour.
 */
import type { KvStore, SyncKvStore } from '../../backends/store.js';
import type { KvOp } from '../../dispatch/protocol.js';

export type KvResult = Uint8Array | undefined | boolean | string[] | bigint | void;

export function applyKvOp(store: SyncKvStore, op: KvOp): KvResult;
export function applyKvOp(store: KvStore, op: KvOp): Promise<KvResult>;
export function applyKvOp(store: SyncKvStore | KvStore, op: KvOp): KvResult | Promise<KvResult> {
  switch (op.method) {
    case 'get':
      return store.get(op.key);
    case 'set':
      return store.set(op.key, op.value);
    case 'delete':
      return store.delete(op.key);
    case 'exists':
      return store.exists(op.key);
    case 'listKeys':
      return store.listKeys(op.prefix, op.after, op.limit);
    case 'increment':
      return store.increment(op.key, op.delta);
    case 'compareAndSwap':
      return store.compareAndSwap(op.key, op.expected, op.value);
  }
}
