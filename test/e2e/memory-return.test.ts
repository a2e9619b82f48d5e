/**
 * A request that grows its guest's memory to the cap must not leave that memory pinned in the
 * node once it ends: measured as the RSS of the real `verge up` process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { rssBytes, startVerge, type VergeProcess } from '../support/verge-process.js';

const MIB = 1024 * 1024;
const CAP_MIB = 64;

describe('memory a large request used is given back', () => {
  let node: VergeProcess;
  before(async () => {
    const app = writeApp('memory-return', {
      small: { route: '/small', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nsmall')} (func (export "_start") (call $respond)))`) },
      // Grows one page at a time up to the cap, touching every page, then answers.
      big: {
        route: '/big',
        limits: `memory_mib = ${CAP_MIB}`,
        wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nbig')}
          (func (export "_start") (local $p i32)
            (block $full (loop $l
              (local.set $p (memory.grow (i32.const 1)))
              (br_if $full (i32.eq (local.get $p) (i32.const -1)))
              (memory.fill (i32.mul (local.get $p) (i32.const 65536)) (i32.const 1) (i32.const 65536))
              (br $l)))
            (call $respond)))`),
      },
    });
    node = await startVerge(app, ['--workers', '1']);
  });
  after(async () => {
    assert.equal(await node.stop(), 0);
  });

  async function small(n: number): Promise<void> {
    for (let i = 0; i < n; i++) assert.equal(await (await fetch(`${node.url}/small`)).text(), 'small');
  }

  test('one request that grows its memory to the cap leaves the node RSS near where it was, while idle', async () => {
    await small(20);
    const baseline = await rssBytes(node.pid);
    const r = await fetch(`${node.url}/big`);
    assert.equal(await r.text(), 'big');
    await small(20);
    // Poll for the RSS to come back. A memory left to V8's own schedule stays resident for ~10 s
    // (until its idle-time memory reducer runs), or for good while anything still references it.
    const bound = baseline + 24 * MIB;
    const until = Date.now() + 3000;
    let rss = await rssBytes(node.pid);
    while (rss > bound && Date.now() < until) {
      await new Promise((res) => setTimeout(res, 100));
      rss = await rssBytes(node.pid);
    }
    assert.ok(rss <= bound, `RSS is ${Math.round(rss / MIB)} MiB after the request, ${Math.round(baseline / MIB)} MiB before it (a ${CAP_MIB} MiB memory is still held)`);
  });
});
