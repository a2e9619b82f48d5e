/**
 * wasi:keyvalue (store, atomics, batch) for components: buckets are stores by name, and every
 * operation goes through kv/access.ts — the same grant and input checks as verge:v1.
 */
import type { HostCallError } from '../../abi.js';
import type { KvOp } from '../../../dispatch/protocol.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { described, guarded } from '../../component-result.js';
import { err, ok, type Result } from '../../../sandbox/component/wasi-io.js';
import { kvAccess } from '../access.js';
import { KV_LIMITS } from '../limits.js';

type KvError = { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };

/** The page size for wasi:keyvalue list-keys; the cursor is the last key returned. */
export const LIST_KEYS_PAGE = KV_LIMITS.maxKeysPerPage;

export function kvComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  const access = kvAccess(scope);
  const kvError = (e: HostCallError): KvError => (e.status === 'ACCESS_DENIED' ? { tag: 'access-denied' } : { tag: 'other', val: described(e) });
  const kv = <T>(api: string, bucket: KvBucket, op: KvOp) => guarded(scope, api, () => access.byName(bucket.name, op, api) as T, kvError);

  /** A store by name: each operation is checked against the grants of the request running it. */
  class KvBucket {
    constructor(readonly name: string) {}
    get(key: string) {
      return kv<Uint8Array | undefined>('wasi:keyvalue/store.get', this, { method: 'get', key });
    }
    set(key: string, value: Uint8Array) {
      return kv<void>('wasi:keyvalue/store.set', this, { method: 'set', key, value });
    }
    delete(key: string) {
      const r = kv<boolean>('wasi:keyvalue/store.delete', this, { method: 'delete', key });
      return r.tag === 'ok' ? ok(undefined) : r;
    }
    exists(key: string) {
      return kv<boolean>('wasi:keyvalue/store.exists', this, { method: 'exists', key });
    }
    listKeys(cursor: string | undefined) {
      const r = kv<string[]>('wasi:keyvalue/store.list-keys', this, { method: 'listKeys', prefix: '', after: cursor, limit: LIST_KEYS_PAGE });
      if (r.tag === 'err') return r;
      return ok({ keys: r.val, cursor: r.val.length === LIST_KEYS_PAGE ? r.val[r.val.length - 1] : undefined });
    }
  }

  class KvCas {
    constructor(
      readonly bucket: KvBucket,
      readonly key: string,
      readonly current_: Uint8Array | undefined,
    ) {}
    static new(bucket: KvBucket, key: string): Result<KvCas, KvError> {
      const r = bucket.get(key);
      return r.tag === 'ok' ? ok(new KvCas(bucket, key, r.val)) : r;
    }
    current(): Result<Uint8Array | undefined, KvError> {
      return ok(this.current_);
    }
  }

  const open = (identifier: string): Result<KvBucket, KvError> =>
    guarded(scope, 'wasi:keyvalue/store.open', () => (access.openBucket(identifier), new KvBucket(identifier)), kvError);

  /** Stops at the first error, as wasi:keyvalue/batch allows. */
  const each = <T>(items: T[], fn: (item: T) => Result<unknown, KvError>): Result<void, KvError> => {
    for (const item of items) {
      const r = fn(item);
      if (r.tag === 'err') return r;
    }
    return ok(undefined);
  };

  return {
    'wasi:keyvalue/store': { open, Bucket: KvBucket },
    'wasi:keyvalue/atomics': {
      increment: (bucket: KvBucket, key: string, delta: bigint) => kv<bigint>('wasi:keyvalue/atomics.increment', bucket, { method: 'increment', key, delta }),
      Cas: KvCas,
      swap: (cas: KvCas, value: Uint8Array) => {
        const r = kv<boolean>('wasi:keyvalue/atomics.swap', cas.bucket, { method: 'compareAndSwap', key: cas.key, expected: cas.current_ ?? null, value });
        if (r.tag === 'err') return err({ tag: 'store-error', val: r.val });
        return r.val ? ok(undefined) : err({ tag: 'cas-failed', val: cas });
      },
    },
    'wasi:keyvalue/batch': {
      getMany: (bucket: KvBucket, keys: string[]) => {
        const out: Array<[string, Uint8Array] | undefined> = [];
        const r = each(keys, (key) => {
          const got = bucket.get(key);
          if (got.tag === 'ok') out.push(got.val === undefined ? undefined : [key, got.val]);
          return got;
        });
        return r.tag === 'err' ? r : ok(out);
      },
      setMany: (bucket: KvBucket, entries: Array<[string, Uint8Array]>) => each(entries, ([key, value]) => bucket.set(key, value)),
      deleteMany: (bucket: KvBucket, keys: string[]) => each(keys, (key) => bucket.delete(key)),
    },
  };
}
