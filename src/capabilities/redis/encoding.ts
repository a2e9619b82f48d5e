/**
 * verge:v1's byte layouts for Redis (docs/abi.md): arguments as records `[u32 length][bytes]`
 * (little-endian), a reply as items `[u8 tag]` then the value — 0 nil; 1 status `[u32][UTF-8]`;
 * 2 integer `[i64]`; 3 bulk bytes `[u32][bytes]`. The SDKs read and write the same.
 */
import { HostCallError } from '../abi.js';
import type { RedisItem } from '../../dispatch/protocol.js';

export const ITEM_TAG = { nil: 0, status: 1, int64: 2, binary: 3 } as const;

const encoder = new TextEncoder();

/** The records of an argument block; a record running past the block is INVALID_ARGUMENT. */
export function decodeArguments(block: Uint8Array, api: string): Uint8Array[] {
  const view = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < block.length) {
    if (at + 4 > block.length) throw new HostCallError('INVALID_ARGUMENT', `${api}: the argument block ends inside a record's length (at byte ${at})`);
    const len = view.getUint32(at, true);
    at += 4;
    if (len > block.length - at) throw new HostCallError('INVALID_ARGUMENT', `${api}: argument ${out.length} says ${len} bytes, but only ${block.length - at} are left in the block`);
    out.push(block.subarray(at, at + len));
    at += len;
  }
  return out;
}

export function encodeItems(items: readonly RedisItem[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (p: Uint8Array) => {
    parts.push(p);
    size += p.length;
  };
  const sized = (tag: number, bytes: Uint8Array) => {
    const head = new Uint8Array(5);
    head[0] = tag;
    new DataView(head.buffer).setUint32(1, bytes.length, true);
    push(head);
    push(bytes);
  };
  for (const item of items) {
    switch (item.tag) {
      case 'nil':
        push(Uint8Array.of(ITEM_TAG.nil));
        break;
      case 'status':
        sized(ITEM_TAG.status, encoder.encode(item.val));
        break;
      case 'int64': {
        const b = new Uint8Array(9);
        b[0] = ITEM_TAG.int64;
        new DataView(b.buffer).setBigInt64(1, item.val, true);
        push(b);
        break;
      }
      case 'binary':
        sized(ITEM_TAG.binary, item.val);
        break;
    }
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
