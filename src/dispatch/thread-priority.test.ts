import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { currentTid, DEMOTE_BY, osThreadPriority } from './thread-priority.js';

/**
 * A worker thread that says its tid, then on each message spins until it has used the given ms of
 * CPU (as it reads its own /proc/thread-self) or sleeps for them, and says so. Plain JavaScript:
 * the thread, not a guest, is what is measured here.
 */
function helperThread(): Promise<{ tid: number; run: (what: 'spin' | 'sleep', ms: number) => Promise<void>; stop: () => Promise<number> }> {
  const url = new URL('./thread-priority.js', import.meta.url).href;
  const worker = new Worker(
    `import('${url}').then(({ currentTid }) => {
      const { parentPort } = require('node:worker_threads');
      parentPort.postMessage(currentTid());
      parentPort.on('message', ({ what, ms }) => {
        const cpu = () => Number(require('node:fs').readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;
        if (what === 'spin') { const end = cpu() + ms; while (cpu() < end); }
        else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        parentPort.postMessage('done');
      });
    });`,
    { eval: true },
  );
  return new Promise((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (tid: number) =>
      resolve({
        tid,
        run: (what, ms) =>
          new Promise<void>((done) => {
            worker.once('message', () => done());
            worker.postMessage({ what, ms });
          }),
        stop: () => worker.terminate(),
      }),
    );
  });
}

const linux = existsSync('/proc/thread-self');

test('a thread knows its own kernel id, and it is one of this process\'s threads', { skip: !linux }, () => {
  const tid = currentTid();
  assert.ok(tid !== undefined && existsSync(`/proc/self/task/${tid}`));
});

test("another thread reads a thread's CPU time by its id: it grows while the thread computes, not while it sleeps", { skip: !linux }, async () => {
  const threads = osThreadPriority();
  const t = await helperThread();
  try {
    const a = threads.cpuMs(t.tid)!;
    await t.run('spin', 100);
    const b = threads.cpuMs(t.tid)!;
    await t.run('sleep', 200);
    const c = threads.cpuMs(t.tid)!;
    assert.ok(b - a >= 100, `${b - a} ms of CPU read while the thread used 100`);
    assert.ok(c - b < 20, `${c - b} ms of CPU read while the thread slept 200 ms`);
  } finally {
    await t.stop();
  }
});

test("demoting a thread raises its nice value and no other thread's; restoring puts it back where allowed", { skip: !linux }, async () => {
  const threads = osThreadPriority();
  const t = await helperThread();
  try {
    const base = os.getPriority();
    assert.equal(threads.demote(t.tid), base + DEMOTE_BY <= 19);
    assert.equal(os.getPriority(t.tid), Math.min(19, base + DEMOTE_BY));
    assert.equal(os.getPriority(), base, 'the main thread is unchanged');
    // Lowering a nice value back needs CAP_SYS_NICE: root has it.
    if (process.getuid?.() === 0) {
      assert.equal(threads.restore(t.tid), true);
      assert.equal(os.getPriority(t.tid), base);
    }
  } finally {
    await t.stop();
  }
});

test('a thread that is gone has no run time, and demoting or restoring it is refused', { skip: !linux }, async () => {
  const threads = osThreadPriority();
  const t = await helperThread();
  await t.stop();
  // The kernel may take a moment to reap it.
  const until = Date.now() + 2000;
  while (existsSync(`/proc/self/task/${t.tid}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.equal(threads.cpuMs(t.tid), undefined);
  assert.equal(threads.demote(t.tid), false);
  assert.equal(threads.restore(t.tid), false);
});
