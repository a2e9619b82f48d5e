/**
 * Guest input to the key-value capability, checked once for both bindings (verge:v1 and
 * wasi:keyvalue) against KV_LIMITS; each refusal names the API and states the limit.
 */
import { HostCallError } from '../abi.js';
import { KV_LIMITS } from './limits.js';
import type { KvOp } from '../../dispatch/protocol.js';

/** A key the guest gave as bytes (verge:v1): `length` is checked before anything is read or decoded. */
export function checkKeyLength(length: number, api: string): void {
  if (length === 0) throw new HostCallError('INVALID_ARGUMENT', `${api}: the key is empty`);
  if (length > KV_LIMITS.maxKeyBytes) throw new HostCallError('LIMIT_EXCEEDED', `${api}: a key may be at most ${KV_LIMITS.maxKeyBytes} bytes, got ${length}`);
}

/** A key the guest gave as a string (wasi:keyvalue: the glue decoded it already). */
export function checkKey(key: string, api: string): string {
  checkKeyLength(Buffer.byteLength(key), api);
  return key;
}

export function checkValueLength(length: number, api: string): void {
  if (length > KV_LIMITS.maxValueBytes) {
    throw new HostCallError('LIMIT_EXCEEDED', `${api}: a value may be at most ${KV_LIMITS.maxValueBytes} bytes (1 MiB), got ${length}`);
  }
}

export function checkValue(value: Uint8Array, api: string): Uint8Array {
  checkValueLength(value.length, api);
  return value;
}

/** Decoded bytes that were not UTF-8 (verge:v1 decodes strictly and answers undefined). */
export function checkDecoded<T extends string>(decoded: T | undefined, what: string, api: string): T {
  if (decoded === undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: the ${what} is not valid UTF-8`);
  return decoded;
}

/** Every key and value an operation carries, whichever binding built it. */
export function checkOp(op: KvOp, api: string): void {
  switch (op.method) {
    case 'listKeys':
      return;
    case 'set':
      checkValue(op.value, api);
      break;
    case 'compareAndSwap':
      if (op.expected) checkValue(op.expected, api);
      checkValue(op.value, api);
      break;
  }
  checkKey(op.key, api);
}
