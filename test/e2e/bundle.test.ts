/**
 * `verge bundle` as a user runs it: the bundle unpacks (through unpackBundle, as a node unpacks an
 * upload) to the same id, and `verge up` on the unpacked folder serves what the app served.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { runVerge, startVerge } from '../support/verge-process.js';
import { unpackBundle } from '../../src/bundle/index.js';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'verge-bundle-e2e-'));
}

async function answer(appPath: string): Promise<{ status: number; body: string }> {
  const node = await startVerge(appPath);
  try {
    const res = await fetch(`${node.url}/orders/42`, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  } finally {
    await node.stop();
  }
}

test('verge bundle packs an app that, unpacked elsewhere, has the same id and serves the same answer', async () => {
  const module = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nfrom the shop app')} (func (export "_start") (call $respond)))`);
  const app = writeApp('shop', { orders: { route: '/orders/...', wasm: module } });
  const out = path.join(tempDir(), 'shop.vbundle');
  const packed = await runVerge(['bundle', app, '-o', out]);
  assert.equal(packed.code, 0, packed.stderr);
  const id = packed.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.match(packed.stderr, new RegExp(`Bundled shop: 2 files, \\d+ bytes \\(\\d+ compressed\\) in ${out.replaceAll('.', '\\.')}`));

  const dest = path.join(tempDir(), 'versions', 'shop');
  const unpacked = await unpackBundle(createReadStream(out), dest);
  assert.equal(unpacked.id, id);
  assert.deepEqual(unpacked.files.map((f) => f.path), ['orders.wasm', 'verge.toml']);

  const original = await answer(app);
  assert.deepEqual(original, { status: 200, body: 'from the shop app' });
  assert.deepEqual(await answer(dest), original);
});

test('verge bundle writes NAME.vbundle in the current folder by default, the same bytes each time', async () => {
  const module = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('status: 204\n\n')} (func (export "_start") (call $respond)))`);
  const app = writeApp('inventory', { web: { route: '/...', wasm: module } });
  const cwd = tempDir();
  const first = await runVerge(['bundle', app], { cwd });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(readdirSync(cwd), ['inventory.vbundle']);
  const again = await runVerge(['bundle', app], { cwd });
  assert.equal(again.stdout, first.stdout);
  assert.deepEqual(readdirSync(cwd), ['inventory.vbundle']);
});

test('verge bundle exits 1 naming the component and the file for a module that leads out of the app folder, and writes nothing', async () => {
  const outside = tempDir();
  writeFileSync(path.join(outside, 'secret.wasm'), 'not part of the app');
  const app = writeApp('leaky', { web: { route: '/...', wasm: new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]) } });
  unlinkSync(path.join(app, 'web.wasm'));
  symlinkSync(path.join(outside, 'secret.wasm'), path.join(app, 'web.wasm'));
  const cwd = tempDir();
  mkdirSync(path.join(cwd, 'out'));
  const r = await runVerge(['bundle', app, '-o', 'out/leaky.vbundle'], { cwd });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /component web: .*web\.wasm resolves through a symbolic link to .*secret\.wasm, outside the app folder/);
  assert.match(r.stderr, /BUNDLE_INVALID/);
  assert.equal(r.stdout, '');
  assert.deepEqual(readdirSync(path.join(cwd, 'out')), []);
  assert.equal(existsSync(path.join(cwd, 'leaky.vbundle')), false);
});
