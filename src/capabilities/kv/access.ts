/**
 * The key-value capability inside a worker, shared by both bindings: the grant check, the
 * guest-input checks (checks.ts, so no binding can skip them), per-request store handles, and
 * the store call — in this worker for `worker` backends, over the host bridge for `main` ones.
 */
import { HostCallError } from '../abi.js';
import type { GuestScope } from '../../sandbox/scope.js';
import type { ComponentGrants, KvOp } from '../../dispatch/protocol.js';
import { StoreError } from '../../backends/store.js';
import { applyKvOp } from './ops.js';
import { checkOp } from './checks.js';
import { KV_LIMITS } from './limits.js';
import { REMOTE, WorkerStores } from './worker-stores.js';

export type KvAccess = ReturnType<typeof kvAccess>;

export function kvAccess(scope: GuestScope) {
  // A breaker changes state during a call, so the current request names the app whose store it guards.
  const stores = scope.worker('kv', () => {
    const made = new WorkerStores((store, side, state, reason) => scope.post({ t: 'breaker', version: scope.depth > 0 ? scope.frame.version : '', store, side, state, reason }));
    scope.onInterrupted(() => made.recover());
    return made;
  });
  const handles = () => scope.frame.local<string[]>('kv.handles', () => []);

  /** Throws ACCESS_DENIED, naming the store and the grants, unless the current request's component may use it. */
  const check = (name: string): ComponentGrants['kvStores'][number] => {
    const { grants, component } = scope.frame;
    const grant = grants.kvStores.find((s) => s.name === name);
    if (!grant) {
      const granted = grants.kvStores.map((s) => s.name);
      throw new HostCallError('ACCESS_DENIED', `store ${JSON.stringify(name)} is not granted to component ${component} (key_value_stores = ${JSON.stringify(granted)})`);
    }
    return grant;
  };

  /**
   * An operation on a store by name, checked against the current request's grants: a component
   * instance that serves several requests may keep a wasi:keyvalue bucket from an earlier one.
   */
  const byName = (name: string, op: KvOp, api: string): unknown =>
    scope.traced('kv', `kv.${op.method}`, () => spanAttributes(name, op), () => run(name, op, api), (result) =>
      result === undefined && op.method === 'get' ? 'NOT_FOUND' : undefined,
    );

  const run = (name: string, op: KvOp, api: string): unknown => {
    const grant = check(name);
    checkOp(op, api);
    let result: unknown;
    try {
      result = stores.run(grant, op, (store) => applyKvOp(store, op));
    } catch (err) {
      if (err instanceof StoreError) throw new HostCallError(err.reason, `store ${name}: ${err.message}`);
      throw err;
    }
    return result === REMOTE ? scope.call({ op: 'kv', store: name, kv: op }) : result;
  };

  return {
    check,
    byName,
    open(name: string): number {
      return scope.measured('kv', () => {
        check(name);
        const list = handles();
        // Each call makes a new handle: a guest looping on kv_open would grow the table without end.
        if (list.length >= KV_LIMITS.maxStoreHandles) {
          throw new HostCallError('LIMIT_EXCEEDED', `at most ${KV_LIMITS.maxStoreHandles} kv_open handles per request: open each store once and keep its handle`);
        }
        list.push(name);
        return list.length - 1;
      });
    },
    /** wasi:keyvalue/store.open: the grant check, timed like any host call. */
    openBucket(name: string): void {
      scope.measured('kv', () => check(name));
    },
    byHandle(handle: number, op: KvOp, api: string): unknown {
      const name = handles()[handle];
      if (name === undefined) throw new HostCallError('INVALID_ARGUMENT', `no open store has handle ${handle}; call kv_open first`);
      return byName(name, op, api);
    },
  };
}

/** Store, operation and key size: never the key or the value, which may be personal data. */
function spanAttributes(store: string, op: KvOp): Record<string, string | number> {
  const key = op.method === 'listKeys' ? op.prefix : op.key;
  return { 'verge.kv.store': store, 'verge.kv.op': op.method, 'verge.kv.key_size': Buffer.byteLength(key) };
}
