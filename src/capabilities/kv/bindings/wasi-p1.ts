/**
 * verge:v1 kv_* for WAGI modules: lengths are checked (checks.ts) before guest memory is read,
 * then kv/access.ts checks the grant and the operation and runs it.
 */
import { HostCallError, Status } from '../../abi.js';
import type { KvOp } from '../../../dispatch/protocol.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { kvAccess } from '../access.js';
import { checkDecoded, checkKeyLength, checkValueLength } from '../checks.js';
import { KV_LIMITS } from '../limits.js';

const encoder = new TextEncoder();

export function kvImports(scope: GuestScope) {
  const mem = scope.memory;
  const kv = kvAccess(scope);

  const key = (ptr: number, len: number, api: string): string => {
    checkKeyLength(len >>> 0, api);
    return checkDecoded(mem.string(ptr, len, api), 'key', api);
  };
  const value = (ptr: number, len: number, api: string): Uint8Array => {
    checkValueLength(len >>> 0, api);
    return mem.copy(ptr, len, api);
  };
  const run = <T>(store: number, op: KvOp, api: string): T => kv.byHandle(store, op, api) as T;

  return {
    kv_open: (namePtr: number, nameLen: number) =>
      scope.guard('kv_open', () => kv.open(checkDecoded(mem.string(namePtr, nameLen, 'kv_open'), 'store name', 'kv_open'))),
    kv_get: (store: number, keyPtr: number, keyLen: number, outPtr: number, outCap: number) =>
      scope.guard('kv_get', () => {
        const v = run<Uint8Array | undefined>(store, { method: 'get', key: key(keyPtr, keyLen, 'kv_get') }, 'kv_get');
        return v === undefined ? Status.NOT_FOUND : mem.writeOut(outPtr, outCap, v, 'kv_get');
      }),
    kv_set: (store: number, keyPtr: number, keyLen: number, valPtr: number, valLen: number) =>
      scope.guard('kv_set', () => {
        run(store, { method: 'set', key: key(keyPtr, keyLen, 'kv_set'), value: value(valPtr, valLen, 'kv_set') }, 'kv_set');
        return Status.OK;
      }),
    kv_delete: (store: number, keyPtr: number, keyLen: number) =>
      scope.guard('kv_delete', () => (run<boolean>(store, { method: 'delete', key: key(keyPtr, keyLen, 'kv_delete') }, 'kv_delete') ? 1 : 0)),
    kv_exists: (store: number, keyPtr: number, keyLen: number) =>
      scope.guard('kv_exists', () => (run<boolean>(store, { method: 'exists', key: key(keyPtr, keyLen, 'kv_exists') }, 'kv_exists') ? 1 : 0)),
    kv_increment: (store: number, keyPtr: number, keyLen: number, delta: bigint, outPtr: number) =>
      scope.guard('kv_increment', () => {
        mem.range(outPtr, 8, 'kv_increment');
        const next = run<bigint>(store, { method: 'increment', key: key(keyPtr, keyLen, 'kv_increment'), delta }, 'kv_increment');
        mem.setI64(outPtr, next, 'kv_increment');
        return Status.OK;
      }),
    kv_compare_and_swap: (store: number, keyPtr: number, keyLen: number, expPtr: number, expLen: number, newPtr: number, newLen: number) =>
      scope.guard('kv_compare_and_swap', () => {
        const api = 'kv_compare_and_swap';
        const expected = expLen === -1 ? null : value(expPtr, expLen, api);
        const op: KvOp = { method: 'compareAndSwap', key: key(keyPtr, keyLen, api), expected, value: value(newPtr, newLen, api) };
        return run<boolean>(store, op, api) ? Status.OK : Status.CONFLICT;
      }),
    kv_list_keys: (store: number, prefixPtr: number, prefixLen: number, afterPtr: number, afterLen: number, outPtr: number, outCap: number) =>
      scope.guard('kv_list_keys', () => {
        const prefix = prefixLen >>> 0 === 0 ? '' : mem.string(prefixPtr, prefixLen, 'kv_list_keys');
        const after = afterLen >>> 0 === 0 ? undefined : mem.string(afterPtr, afterLen, 'kv_list_keys');
        if (prefix === undefined || (afterLen >>> 0 !== 0 && after === undefined)) {
          throw new HostCallError('INVALID_ARGUMENT', 'kv_list_keys: the prefix or cursor is not valid UTF-8');
        }
        const keys = run<string[]>(store, { method: 'listKeys', prefix, after, limit: KV_LIMITS.maxKeysPerPage }, 'kv_list_keys');
        return writeKeyRecords(keys, outPtr, outCap, scope);
      }),
  };
}

/** Writes as many whole `[u32 len][bytes]` records as fit; if not even the first fits, returns its size. */
function writeKeyRecords(keys: string[], outPtr: number, outCap: number, scope: GuestScope): number {
  const cap = outCap >>> 0;
  const records: Uint8Array[] = [];
  let total = 0;
  for (const k of keys) {
    const bytes = encoder.encode(k);
    const size = 4 + bytes.length;
    if (total + size > cap) {
      if (records.length === 0) return size;
      break;
    }
    const rec = new Uint8Array(size);
    new DataView(rec.buffer).setUint32(0, bytes.length, true);
    rec.set(bytes, 4);
    records.push(rec);
    total += size;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const r of records) {
    out.set(r, at);
    at += r.length;
  }
  return scope.memory.writeOut(outPtr, outCap, out, 'kv_list_keys');
}
