import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { packBundle } from '../bundle/index.js';
import { VersionStore } from './version-store.js';

/** A bundle of a one-component app answering `text` (the module need not be valid: the store does not compile). */
async function bundle(text: string): Promise<Buffer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-store-app-'));
  writeFileSync(path.join(dir, 'web.wasm'), Buffer.from(`\0asm${text}`));
  writeFileSync(path.join(dir, 'verge.toml'), '[application]\nname = "shop"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\n');
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await packBundle(path.join(dir, 'verge.toml'), out);
  return Buffer.concat(chunks);
}

async function put(store: VersionStore, text: string): Promise<string> {
  const pending = await store.receive('shop', Readable.from([await bundle(text)]));
  if (pending.existing) {
    await pending.discard();
    return pending.existing.id;
  }
  return (await pending.commit([])).id;
}

describe('VersionStore', () => {
  test('a received upload is no version until committed; a discarded one leaves nothing behind', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    await store.init();
    const pending = await store.receive('shop', Readable.from([await bundle('one')]));
    assert.deepEqual(await store.versions('shop'), []);
    await pending.discard();
    assert.deepEqual(readdirSync(path.join(store.root, 'apps', 'shop', 'versions')), []);
  });

  test('the same content received twice is the same version', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    const a = await put(store, 'one');
    const b = await put(store, 'one');
    assert.equal(a, b);
    assert.equal((await store.versions('shop')).length, 1);
  });

  test('a version is found by a unique prefix of 6 or more characters, and not by an ambiguous or short one', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    const id = await put(store, 'one');
    assert.equal((await store.find('shop', id.slice(0, 6))).id, id);
    await assert.rejects(store.find('shop', id.slice(0, 5)), /is not a version id/);
    await assert.rejects(store.find('shop', 'f'.repeat(64)), /has no version/);
  });

  test('activating keeps the deployment before in the history and every version ever live', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    const one = await put(store, 'one');
    const two = await put(store, 'two');
    await store.activate('shop', { by: 'test', reason: 'deploy', versions: [{ id: one, weight: 100 }], policy: {} });
    const { state } = await store.activate('shop', { by: 'test', reason: 'deploy', versions: [{ id: two, weight: 100 }], policy: {} });
    assert.equal(state.current!.seq, 2);
    assert.deepEqual(state.history.map((r) => r.versions[0]!.id), [one]);
    assert.deepEqual(state.everLive.sort(), [one, two].sort());
    assert.deepEqual(await store.readState('shop'), state, 'what was written is what is read back');
  });

  test('retention keeps every version ever live and the newest uploads, and deletes the rest', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    const live = await put(store, 'live');
    await store.activate('shop', { by: 'test', reason: 'deploy', versions: [{ id: live, weight: 100 }], policy: {} });
    const uploads: string[] = [];
    for (const t of ['a', 'b', 'c', 'd']) {
      uploads.push(await put(store, t));
      await new Promise((r) => setTimeout(r, 5)); // distinct creation times
    }
    const deleted = await store.prune('shop', 2, new Set());
    assert.deepEqual(deleted.sort(), uploads.slice(0, 2).sort());
    const kept = (await store.versions('shop')).map((v) => v.id).sort();
    assert.deepEqual(kept, [live, ...uploads.slice(2)].sort());
    assert.equal(existsSync(store.versionDir('shop', uploads[0]!)), false);
  });

  test('init clears what a crash left half-done: unpacking folders and a half-written deployment file', async () => {
    const store = new VersionStore(mkdtempSync(path.join(os.tmpdir(), 'verge-store-')));
    const id = await put(store, 'one');
    const versions = path.join(store.root, 'apps', 'shop', 'versions');
    writeFileSync(path.join(store.appDir('shop'), 'deployment.json.tmp'), '{"cur');
    mkdirSync(path.join(versions, '..incoming-x.unpacking-y'));
    await store.init();
    assert.deepEqual(readdirSync(versions), [id]);
    assert.equal(existsSync(path.join(store.appDir('shop'), 'deployment.json.tmp')), false);
  });
});
