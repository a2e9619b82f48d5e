import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { RECYCLE_GROWTH_BYTES, WASM_PAGE_BYTES } from '../wasm/binary.js';
import { COLLECT_AFTER_DROPPED_BYTES, MemoryRecycler } from './memory-recycler.js';

const MIB = 1024 * 1024;
const PAGES_PER_MIB = MIB / WASM_PAGE_BYTES;

function counting(budgetBytes?: number): { recycler: MemoryRecycler; collections: () => number } {
  let n = 0;
  return { recycler: new MemoryRecycler({ budgetBytes, collect: () => void n++ }), collections: () => n };
}

describe('MemoryRecycler (zeroed memories for the next instance, in one worker)', () => {
  test('hands back a memory only after zeroing what the last instance wrote', () => {
    const shelf = counting().recycler.shelf({ initialPages: 2, maximumPages: 4 }, 1);
    const first = shelf.take();
    new Uint8Array(first.buffer).fill(0xab);
    shelf.give(first);
    const again = shelf.take();
    assert.equal(again, first, 'the same memory comes back');
    assert.ok(new Uint8Array(again.buffer).every((b) => b === 0), 'and every byte is zero');
  });

  test('makes a new memory with the cap when none is free', () => {
    const shelf = counting().recycler.shelf({ initialPages: 1, maximumPages: 3 }, 1);
    const m = shelf.take();
    assert.equal(m.buffer.byteLength, WASM_PAGE_BYTES);
    m.grow(2);
    assert.throws(() => m.grow(1), RangeError);
  });

  test('drops a memory the guest grew far past its initial size instead of keeping it', () => {
    const growthPages = RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES + 1;
    const { recycler } = counting();
    const shelf = recycler.shelf({ initialPages: 1, maximumPages: 1 + growthPages }, 1);
    const big = shelf.take();
    big.grow(growthPages);
    shelf.give(big);
    assert.notEqual(shelf.take(), big);
    assert.equal(recycler.heldBytes, 0);
  });

  test('keeps at most `keep` memories per module, the newest ones', () => {
    const { recycler } = counting();
    const shelf = recycler.shelf({ initialPages: 1, maximumPages: 1 }, 2);
    const [a, b, c] = [shelf.take(), shelf.take(), shelf.take()];
    for (const m of [a, b, c]) shelf.give(m);
    assert.equal(recycler.heldBytes, 2 * WASM_PAGE_BYTES);
    const back = new Set([shelf.take(), shelf.take()]);
    assert.deepEqual(back, new Set([b, c]));
  });

  test('keeps the memories of all modules within one budget, evicting the one kept longest ago', () => {
    const { recycler } = counting(8 * MIB);
    const limits = { initialPages: 3 * PAGES_PER_MIB, maximumPages: 3 * PAGES_PER_MIB };
    const shelves = [recycler.shelf(limits, 1), recycler.shelf(limits, 1), recycler.shelf(limits, 1)];
    const memories = shelves.map((s) => s.take());
    shelves.forEach((s, i) => s.give(memories[i]!));
    assert.equal(recycler.heldBytes, 6 * MIB, 'two 3 MiB memories fit in 8 MiB, three do not');
    assert.notEqual(shelves[0]!.take(), memories[0], 'the oldest was evicted');
    assert.equal(shelves[2]!.take(), memories[2]);
  });

  test('collects garbage after a large memory was dropped, and not after small requests', () => {
    const { recycler, collections } = counting();
    const shelf = recycler.shelf({ initialPages: 1, maximumPages: 2 + RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES }, 1);
    const afterRequest = () => recycler.collectionDue && recycler.collectDropped();
    for (let i = 0; i < 5; i++) {
      shelf.give(shelf.take());
      afterRequest();
    }
    assert.equal(collections(), 0, 'recycled memories cost no collection');
    const big = shelf.take();
    big.grow(1 + RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES);
    shelf.give(big);
    assert.ok(big.buffer.byteLength >= COLLECT_AFTER_DROPPED_BYTES);
    afterRequest();
    assert.equal(collections(), 1);
    afterRequest();
    assert.equal(collections(), 1, 'once per drop');
  });

  test("the default collector runs V8's full collection on this thread", () => {
    const recycler = new MemoryRecycler();
    const shelf = recycler.shelf({ initialPages: 1, maximumPages: 2 + RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES }, 1);
    const big = shelf.take();
    big.grow(1 + RECYCLE_GROWTH_BYTES / WASM_PAGE_BYTES);
    shelf.give(big);
    assert.ok(recycler.collectionDue);
    assert.doesNotThrow(() => recycler.collectDropped());
    assert.equal((globalThis as { gc?: unknown }).gc, undefined, 'gc is not left exposed to guests or glue');
  });

  test('workers collecting at the same moment never fail, though the flag they each toggle is process-wide', async () => {
    // Each worker's first collection exposes V8's gc; all of them do it at once, released together.
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      parentPort.postMessage('ready');
      Atomics.wait(new Int32Array(workerData.start), 0, 0);
      (async () => {
        // A fresh module instance per round (a distinct URL), so every round exposes gc anew.
        for (let round = 0; round < 40; round++) {
          const { MemoryRecycler } = await import(workerData.url + '?round=' + round);
          try { new MemoryRecycler().collectDropped(); } catch (err) { return parentPort.postMessage(String(err)); }
        }
        parentPort.postMessage('collected');
      })();`;
    const start = new SharedArrayBuffer(4);
    const url = new URL('./memory-recycler.js', import.meta.url).href;
    const workers = Array.from({ length: 8 }, () => new Worker(code, { eval: true, workerData: { url, start } }));
    const next = (w: Worker) => new Promise<string>((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    try {
      assert.deepEqual(await Promise.all(workers.map(next)), Array(8).fill('ready'));
      const results = workers.map(next);
      Atomics.store(new Int32Array(start), 0, 1);
      Atomics.notify(new Int32Array(start), 0);
      assert.deepEqual(await Promise.all(results), Array(8).fill('collected'));
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
