import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { WASM_PAGE_BYTES } from '../wasm/binary.js';
import { filledPages } from './core-state.js';

describe('filledPages', () => {
  test('copies each run of pages that hold a byte, including a run that ends the memory, and skips zero pages', () => {
    const bytes = new Uint8Array(6 * WASM_PAGE_BYTES);
    bytes[1 * WASM_PAGE_BYTES + 7] = 1; // pages 1–2: one run
    bytes[3 * WASM_PAGE_BYTES - 1] = 2;
    bytes[6 * WASM_PAGE_BYTES - 1] = 3; // page 5, the last
    const runs = filledPages(bytes);
    assert.deepEqual(
      runs.map((r) => [r.from / WASM_PAGE_BYTES, r.bytes.length / WASM_PAGE_BYTES]),
      [
        [1, 2],
        [5, 1],
      ],
    );
    assert.equal(runs[0]!.bytes[7], 1);
    bytes[1 * WASM_PAGE_BYTES + 7] = 9;
    assert.equal(runs[0]!.bytes[7], 1, 'a copy, not a view of the memory');
  });

  test('a memory of zeros has no run', () => {
    assert.deepEqual(filledPages(new Uint8Array(2 * WASM_PAGE_BYTES)), []);
  });
});
