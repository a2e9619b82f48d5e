import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RECYCLE_GROWTH_BYTES, WASM_PAGE_BYTES } from '../wasm/binary.js';
import { MemorySlot } from './runner.js';

describe('MemorySlot (recycled memories for a component core module)', () => {
  test('hands back a memory only after zeroing what the last instance wrote', () => {
    const slot = new MemorySlot({ initialPages: 2, maximumPages: 4 });
    const first = slot.take();
    new Uint8Array(first.buffer).fill(0xab);
    slot.give(first);
    const again = slot.take();
    assert.equal(again, first, 'the same memory comes back');
    assert.ok(new Uint8Array(again.buffer).every((b) => b === 0), 'and every byte is zero');
  });

  test('makes a new memory with the cap when none is free', () => {
    const slot = new MemorySlot({ initialPages: 1, maximumPages: 3 });
    const m = slot.take();
    assert.equal(m.buffer.byteLength, WASM_PAGE_BYTES);
    m.grow(2);
    assert.throws(() => m.grow(1), RangeError);
  });

  test('drops a memory the guest grew far past its initial size instead of keeping it', () => {
    const growthPages = RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES + 1;
    const slot = new MemorySlot({ initialPages: 1, maximumPages: 1 + growthPages });
    const big = slot.take();
    big.grow(growthPages);
    slot.give(big);
    assert.notEqual(slot.take(), big);
  });
});
