import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { isVergeError } from '../errors.js';
import { EMPTY_INSTANCE_TYPE_SECTION, component, componentImporting as componentImportingAll, importSection, section } from '../../test/support/component-bytes.js';
import { isComponentBinary } from '../wasm/binary.js';
import { stateExportsOf } from '../wasm/state-exports.js';
import { PROVIDED_INTERFACES } from '../capabilities/index.js';
import { wat } from '../../test/support/wat.js';
import { IMPLEMENTED_VERSIONS, importRefusal, isFetchEventHandler, prepareComponent } from './component.js';
import { vergeCacheDir } from '../cache-dir.js';

/** The smallest real components: an empty instance type imported under a name (test/support/component-bytes.ts). */
const componentImporting = (name: string, form = 0x00) => componentImportingAll([name], form);
const EMPTY_COMPONENT = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);

const options = (cacheRoot: string) => ({ component: 'c', where: 'component c (c.wasm)', capPages: 2048, instanceReuse: 1, maxResponseBytes: 1024, cacheRoot });

async function loadError(bytes: Uint8Array, cacheRoot: string): Promise<{ code: string; message: string }> {
  try {
    await prepareComponent(bytes, options(cacheRoot));
  } catch (e) {
    if (isVergeError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  assert.fail('expected the load to fail');
}

describe('prepareComponent', () => {
  test('tells a component from a core module by its header', () => {
    assert.ok(isComponentBinary(EMPTY_COMPONENT));
    assert.ok(!isComponentBinary(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])));
    assert.ok(!isComponentBinary(Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0x0d, 0x00, 0x01, 0x00])));
  });

  test('fails a component that imports an interface Verge does not provide, naming the interface', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(componentImporting('wasi:blobstore/container@0.2.0-draft'), cache);
    assert.equal(err.code, 'MODULE_IMPORT');
    assert.match(err.message, /component c \(c\.wasm\): imports wasi:blobstore\/container@0\.2\.0-draft, an interface Verge does not provide/);
  });

  test('refuses a version of a provided interface that Verge does not implement, naming the interface with its version', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(componentImportingAll(['wasi:http/types@0.3.0', 'wasi:io/streams@0.2.0', 'wasi:cli/stdout@1.0.0']), cache);
    assert.equal(err.code, 'MODULE_IMPORT');
    assert.equal(
      err.message,
      'component c (c.wasm): imports wasi:http/types@0.3.0, a version Verge does not implement: it implements wasi:http@0.2.x' +
        " (WASI 0.3 needs the component model's async ABI: docs/components.md#wasi-03-and-async-components)\n" +
        'component c (c.wasm): imports wasi:cli/stdout@1.0.0, a version Verge does not implement: it implements wasi:cli@0.2.x',
    );
    assert.deepEqual(readdirSync(cache), [], 'refused before transpiling');
  });

  test('refuses a WASI 0.3 component that uses the async ABI before transpiling, naming its 0.3 interfaces and why', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const name = (s: string) => [...Buffer.from([s.length]), ...Buffer.from(s)];
    const bytes = component(
      EMPTY_INSTANCE_TYPE_SECTION,
      importSection([{ name: 'wasi:http/types@0.3.0' }]),
      // canon lift (core func 0) async (callback 1) (type 0)
      section(8, [0x01, 0x00, 0x00, 0x00, 0x02, 0x06, 0x07, 0x01, 0x00]),
      section(11, [0x01, 0x00, ...name('wasi:http/handler@0.3.0'), 0x05, 0x00, 0x00]),
    );
    const err = await loadError(bytes, cache);
    assert.equal(err.code, 'COMPONENT_ASYNC');
    assert.match(
      err.message,
      /^component c \(c\.wasm\): is a WASI 0\.3 component \(exports wasi:http\/handler@0\.3\.0, imports wasi:http\/types@0\.3\.0\) and uses the component model's async ABI \(a function lifted with the async option\), which Verge does not run/,
    );
    if (typeof (WebAssembly as { Suspending?: unknown }).Suspending !== 'function') assert.match(err.message, new RegExp(`needs JavaScript Promise Integration, which Node ${process.version.replace(/\./g, '\\.')} does not have`));
    assert.match(err.message, /build this one for WASI 0\.2 \(docs\/components\.md#wasi-03-and-async-components\)$/);
    assert.deepEqual(readdirSync(cache), [], 'refused before transpiling');
  });

  test('takes any 0.2.N of the stable interfaces, and drafts only at the draft Verge binds', () => {
    for (const name of ['wasi:http/types@0.2.0', 'wasi:http/types@0.2.1', 'wasi:io/poll@0.2.10', 'wasi:cli/stdout@0.2.12', 'wasi:keyvalue/store@0.2.0-draft2', 'wasi:config/store@0.2.0-draft', 'wasi:logging/logging@0.1.0-draft']) {
      assert.equal(importRefusal(name), undefined, name);
    }
    const refused: Array<[string, RegExp]> = [
      ['wasi:http/types@0.2.0-rc-2023-12-05', /a version Verge does not implement: it implements wasi:http@0\.2\.x$/],
      ['wasi:http/types@0.2', /a version Verge does not implement/],
      ['wasi:http/types@0.2.01', /a version Verge does not implement/],
      ['wasi:keyvalue/store@0.2.0-draft', /it implements wasi:keyvalue@0\.2\.0-draft2$/],
      ['wasi:http/types', /without a version; Verge implements wasi:http@0\.2\.x$/],
      ['wasi:http/nonesuch@0.2.0', /an interface Verge does not provide/],
      ['my-plain-name', /an interface Verge does not provide/],
    ];
    for (const [name, expected] of refused) assert.match(importRefusal(name) ?? 'accepted', expected, name);
  });

  test('implements the version of every package in its WIT, and knows the versions of every interface it provides', () => {
    const deps = fileURLToPath(new URL('../../../wit/deps/', import.meta.url));
    for (const dir of readdirSync(deps)) {
      const wit = readFileSync(path.join(deps, dir, 'package.wit'), 'utf8');
      const [, pkg, version] = /^package ([a-z-]+:[a-z-]+)@([^;]+);/m.exec(wit) ?? [];
      assert.ok(pkg && version, `wit/deps/${dir}/package.wit names its package`);
      assert.ok(IMPLEMENTED_VERSIONS.get(pkg)?.accepts(version), `${pkg}@${version} is implemented`);
    }
    for (const iface of PROVIDED_INTERFACES) assert.ok(IMPLEMENTED_VERSIONS.has(iface.split('/')[0]!), iface);
  });

  test('loads a component whose import names use the older 0x01 form, as jco does', async () => {
    // Past the import check, jco transpiles it: the load then stops at the export check.
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(componentImportingAll(['wasi:http/types@0.2.0', 'wasi:io/streams@0.2.1'], 0x01), cache);
    assert.equal(err.code, 'MODULE_INVALID');
    assert.match(err.message, /does not export wasi:http\/incoming-handler@0\.2\.x \(it exports nothing\)/);
    assert.equal(readdirSync(cache).length, 1, 'jco transpiled it');
  });

  test('fails a component that does not export wasi:http/incoming-handler, saying what it exports', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(componentImporting('wasi:random/random@0.2.3'), cache);
    assert.equal(err.code, 'MODULE_INVALID');
    assert.match(err.message, /does not export wasi:http\/incoming-handler@0\.2\.x \(it exports nothing\)/);
  });

  test('caches the transpile under the SHA-256 of the bytes and reuses it', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const bytes = componentImporting('wasi:random/random@0.2.3');
    await loadError(bytes, cache);
    const entries = readdirSync(cache);
    assert.equal(entries.length, 1);
    assert.match(entries[0]!, /^[0-9a-f]{64}-jco-transpile-\d+\.\d+\.\d+$/);
    const meta = JSON.parse(readFileSync(path.join(cache, entries[0]!, 'meta.json'), 'utf8')) as { sha256: string };
    assert.equal(meta.sha256, entries[0]!.slice(0, 64));
    assert.equal(readFileSync(path.join(cache, entries[0]!, 'package.json'), 'utf8').trim(), '{"type":"module"}');
    // The second load reads the cache: same folder, no second entry, same verdict.
    await loadError(bytes, cache);
    assert.deepEqual(readdirSync(cache), entries);
  });

  test('transpiles again when a cache entry was damaged (a file it names is gone)', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const bytes = componentImporting('wasi:random/random@0.2.3');
    await loadError(bytes, cache);
    const [entry] = readdirSync(cache);
    rmSync(path.join(cache, entry!, 'component.js'));
    await loadError(bytes, cache);
    assert.ok(existsSync(path.join(cache, entry!, 'component.js')), 'the entry is whole again');
  });

  test('loads one component several times at once (a middleware that is also a dependency) with one transpile', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    // A component holding one (empty) core module, which each load reads from the entry.
    const bytes = component(section(1, [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const loads = await Promise.all(Array.from({ length: 8 }, () => prepareComponent(bytes, { ...options(cache), role: 'dependency' as const })));
    for (const l of loads) assert.deepEqual(Object.keys(l.spec.coreModules), ['component.core.wasm']);
    assert.equal(new Set(loads.map((l) => l.transpileMs)).size, 1, 'every load waited for the same transpile');
    assert.equal(readdirSync(cache).length, 1, 'one entry, no temporary folder left behind');
  });

  test('replaces a damaged entry it finds in the way of its own, and keeps a whole one', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const bytes = component(section(1, [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const first = await prepareComponent(bytes, { ...options(cache), role: 'dependency' as const });
    rmSync(path.join(first.cacheDir, 'component.core.wasm'));
    const again = await prepareComponent(bytes, { ...options(cache), role: 'dependency' as const });
    assert.ok(again.transpileMs !== undefined, 'transpiled again');
    assert.ok(existsSync(path.join(first.cacheDir, 'component.core.wasm')), 'the entry is whole again');
    const third = await prepareComponent(bytes, { ...options(cache), role: 'dependency' as const });
    assert.equal(third.transpileMs, undefined, 'read from the cache');
  });

  test('prepares a core module for reset only when a used instance put back would equal a fresh one', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const prepared = async (core: string) => {
      const bytes = component(section(1, [...(await wat(core))]));
      const loaded = await prepareComponent(bytes, { ...options(cache), role: 'dependency' as const });
      return { loaded, state: stateExportsOf(loaded.spec.coreModules['component.core.wasm']!) };
    };
    const plain = await prepared('(module (memory 1) (global (mut i32) (i32.const 0)) (func (export "f")))');
    assert.ok(plain.state, 'a plain module carries the verge:state section');
    // A fresh instance would run the start function again (with its host calls); a reset one would not.
    assert.equal((await prepared('(module (memory 1) (global $g (mut i32) (i32.const 0)) (func $s (global.set $g (i32.const 1))) (start $s))')).state, undefined);
    // A fresh instance has its segment back; a reset one would not.
    assert.equal((await prepared('(module (memory 1) (data $d "x") (func (export "f") (data.drop $d)))')).state, undefined);
    assert.equal((await prepared('(module (memory 1) (table 1 funcref) (elem $e func $f) (func $f (elem.drop $e)) (export "f" (func $f)))')).state, undefined);

    // What the code holds is kept beside the module in the transpile cache, and read from there next time.
    const facts = path.join(plain.loaded.cacheDir, 'component.core.wasm.code.json');
    assert.deepEqual(JSON.parse(readFileSync(facts, 'utf8')), { changesTables: false, dropsSegments: false });
    writeFileSync(facts, JSON.stringify({ changesTables: false, dropsSegments: true }));
    assert.equal((await prepared('(module (memory 1) (global (mut i32) (i32.const 0)) (func (export "f")))')).state, undefined, 'the kept answer was used');

    // A damaged answer does not fail the load: the code is read again, and the answer kept again (written aside, then renamed).
    writeFileSync(facts, '{"changesTables": fal');
    assert.ok((await prepared('(module (memory 1) (global (mut i32) (i32.const 0)) (func (export "f")))')).state, 'the code was read again');
    const until = Date.now() + 5000;
    while (readFileSync(facts, 'utf8').startsWith('{"changesTables": fal') && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(JSON.parse(readFileSync(facts, 'utf8')), { changesTables: false, dropsSegments: false });
  });

  test('fails a truncated component with MODULE_INVALID before transpiling it', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(Uint8Array.from([...EMPTY_COMPONENT, 0x0a, 0x05, 0xff]), cache);
    assert.equal(err.code, 'MODULE_INVALID');
    assert.match(err.message, /component c \(c\.wasm\): not a valid WebAssembly module: section 10 runs past the end/);
    assert.deepEqual(readdirSync(cache), []);
  });

  test('fails a component jco cannot parse with MODULE_INVALID, quoting jco', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-prepare-'));
    const err = await loadError(Uint8Array.from([...EMPTY_COMPONENT, 0x07, 0x02, 0x01, 0xff]), cache);
    assert.equal(err.code, 'MODULE_INVALID');
    assert.match(err.message, /component c \(c\.wasm\): jco could not transpile the component: /);
  });

  test('puts the cache under VERGE_CACHE_DIR, else XDG_CACHE_HOME, else ~/.cache', () => {
    assert.equal(vergeCacheDir({ VERGE_CACHE_DIR: '/srv/cache' }), '/srv/cache');
    assert.equal(vergeCacheDir({ XDG_CACHE_HOME: '/home/u/.xdg' }), '/home/u/.xdg/verge');
    assert.equal(vergeCacheDir({}), path.join(os.homedir(), '.cache', 'verge'));
  });
});

describe('isFetchEventHandler', () => {
  const HANDLER = 'wasi:http/incoming-handler@0.2.10';
  async function core(opts: { postReturn: boolean; data: string }): Promise<{ module: WebAssembly.Module; raw: Uint8Array }> {
    const raw = await wat(
      `(module (memory 1) (data (i32.const 0) "${opts.data}")
        (func (export "${HANDLER}#handle") (param i32 i32))
        ${opts.postReturn ? `(func (export "cabi_post_${HANDLER}#handle") (param i32))` : ''})`,
    );
    return { module: new WebAssembly.Module(raw), raw };
  }

  test('is a StarlingMonkey engine whose handle has no post-return: the built-in fetch-event dispatcher', async () => {
    const { module, raw } = await core({ postReturn: false, data: 'FetchEvent#respondWith' });
    assert.equal(isFetchEventHandler(module, raw, HANDLER), true);
  });

  test('is not a handler the JS exports itself: ComponentizeJS binds it with a post-return', async () => {
    const { module, raw } = await core({ postReturn: true, data: 'FetchEvent#respondWith' });
    assert.equal(isFetchEventHandler(module, raw, HANDLER), false);
  });

  test('is not a component from another toolchain, whose handle has no post-return either', async () => {
    const { module, raw } = await core({ postReturn: false, data: 'hello from rust' });
    assert.equal(isFetchEventHandler(module, raw, HANDLER), false);
  });

  test('is not a module that does not export the handler', async () => {
    const { module, raw } = await core({ postReturn: false, data: 'FetchEvent' });
    assert.equal(isFetchEventHandler(module, raw, 'wasi:http/incoming-handler@0.2.0'), false);
  });
});
