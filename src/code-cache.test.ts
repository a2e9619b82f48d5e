import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import { UNUSED_FOR_MS, loadBundle, requireBundle } from './code-cache.js';

/**
 * Loads `file` in a fresh node, as a start of Verge would: within one process V8 also keeps what
 * it compiled by source text, and a second load there would not read the cache file at all.
 */
function loadInChild(file: string, env: NodeJS.ProcessEnv): { exports: unknown; cache: string; cacheFile?: string } {
  const code = `import { loadBundle } from ${JSON.stringify(new URL('./code-cache.js', import.meta.url).href)}; const r = loadBundle(${JSON.stringify(file)}); process.stdout.write(JSON.stringify(r));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })) as { exports: unknown; cache: string; cacheFile?: string };
}

describe('loadBundle', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const cacheDir = () => path.join(dir, 'cache', 'code-cache');
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verge-code-cache-'));
    env = { VERGE_CACHE_DIR: path.join(dir, 'cache') };
    writeFileSync(path.join(dir, 'helper.cjs'), 'module.exports = { twice: (n) => 2 * n };\n');
    writeFileSync(path.join(dir, 'esm.mjs'), 'export const answer = 42;\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function writeBundle(name: string, body: string): string {
    const file = path.join(dir, name);
    writeFileSync(file, body);
    return file;
  }

  test('runs a CommonJS file with its own require, module and file names, and returns its exports', () => {
    const file = writeBundle('plain.cjs', '"use strict";\nconst { twice } = require("./helper.cjs");\nexports.value = twice(21);\nexports.where = [__filename, __dirname];\nexports.self = this === exports;\n');
    const loaded = loadBundle(file, { VERGE_CODE_CACHE: '0' });
    assert.deepEqual(loaded.exports, { value: 42, where: [file, dir], self: true });
    assert.equal(loaded.cache, 'off');
  });

  test('makes a cache on the first load, compiles from it on the next, and makes it again when the source changes', () => {
    const file = writeBundle('cached.cjs', 'function f(x) { return x + 1; }\nmodule.exports = { n: f(1) };\n');
    const first = loadInChild(file, env);
    assert.equal(first.cache, 'made');
    assert.deepEqual(first.exports, { n: 2 });
    assert.ok(first.cacheFile !== undefined && statSync(first.cacheFile).size > 0);
    const second = loadInChild(file, env);
    assert.equal(second.cache, 'used');
    assert.equal(second.cacheFile, first.cacheFile);
    assert.deepEqual(second.exports, { n: 2 });

    // Same length, other code: a cache keyed by anything less than the content would run the old bytecode.
    writeBundle('cached.cjs', 'function f(x) { return x + 2; }\nmodule.exports = { n: f(1) };\n');
    const third = loadInChild(file, env);
    assert.equal(third.cache, 'made');
    assert.deepEqual(third.exports, { n: 3 });
    assert.notEqual(third.cacheFile, first.cacheFile);
  });

  test('a cache made by a load is made again after a while, with the functions the thread compiled since', () => {
    const file = writeBundle('later.cjs', 'exports.later = function later() { return [1, 2, 3].map(function inner(x) { return x * 2; }).join(); };\n');
    const code = `import { loadBundle } from ${JSON.stringify(new URL('./code-cache.js', import.meta.url).href)}; import { statSync } from 'node:fs';\n` +
      `const r = loadBundle(${JSON.stringify(file)}, process.env, 50); const early = statSync(r.cacheFile).size; r.exports.later();\n` +
      `setTimeout(() => process.stdout.write(JSON.stringify({ early, late: statSync(r.cacheFile).size })), 300);`;
    const { early, late } = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })) as { early: number; late: number };
    assert.ok(late > early, `the cache grew from ${early} to ${late} bytes`);
    assert.equal(loadInChild(file, env).cache, 'used');
  });

  test('a cache V8 refuses is compiled around and written again', () => {
    const file = writeBundle('spoiled.cjs', 'module.exports = { ok: true };\n');
    const made = loadInChild(file, env);
    writeFileSync(made.cacheFile!, Buffer.from('not a code cache, but garbage of some length'));
    const spoiled = loadInChild(file, env);
    assert.equal(spoiled.cache, 'rejected');
    assert.deepEqual(spoiled.exports, { ok: true });
    assert.equal(loadInChild(file, env).cache, 'used');
  });

  test('keeps the file\'s own line numbers in stack traces', () => {
    const file = writeBundle('throws.cjs', 'exports.boom = function boom() {\n  throw new Error("here");\n};\n');
    const { boom } = loadBundle(file, env).exports as { boom: () => void };
    assert.throws(boom, (err: Error) => err.stack!.includes(`${file}:2:9`));
  });

  test('code compiled from a cache imports through the hook load installs, as code compiled from source does', () => {
    // What src/dynamic-import.ts's importModule does in the bundle; a bare import() there throws once V8 used a cache.
    const file = writeBundle('imports.cjs', `exports.load = () => globalThis[Symbol.for('verge.import')](${JSON.stringify(pathToFileURL(path.join(dir, 'esm.mjs')).href)});\n`);
    const code = `import { loadBundle } from ${JSON.stringify(new URL('./code-cache.js', import.meta.url).href)};\n` +
      `const r = loadBundle(${JSON.stringify(file)}); const m = await r.exports.load(); process.stdout.write(JSON.stringify({ cache: r.cache, answer: m.answer }));`;
    const run = () => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8' })) as { cache: string; answer: number };
    assert.deepEqual(run(), { cache: 'made', answer: 42 });
    assert.deepEqual(run(), { cache: 'used', answer: 42 });
  });

  test('loads without a cache where the cache folder is a file, and leaves no temporary file', () => {
    const blocked = path.join(dir, 'blocked');
    writeFileSync(blocked, '');
    const file = writeBundle('blocked.cjs', 'module.exports = 8;\n');
    const loaded = loadBundle(file, { VERGE_CACHE_DIR: blocked });
    assert.equal(loaded.exports, 8);
    assert.equal(loaded.cache, 'unsaved');
    assert.deepEqual(readdirSync(dir).filter((n) => n.endsWith('.tmp')), []);
  });

  test('requireBundle runs a file once per thread, as require would', () => {
    const file = writeBundle('counted.cjs', 'globalThis.__vergeCodeCacheRuns = (globalThis.__vergeCodeCacheRuns ?? 0) + 1;\nmodule.exports = { at: globalThis.__vergeCodeCacheRuns };\n');
    const a = requireBundle(file);
    const b = requireBundle(file);
    assert.equal(a, b);
    assert.deepEqual(a, { at: 1 });
    delete (globalThis as { __vergeCodeCacheRuns?: number }).__vergeCodeCacheRuns;
  });

  test('making a cache deletes the same file\'s caches no start used for a week, and keeps the rest', () => {
    const own = { VERGE_CACHE_DIR: path.join(dir, 'cache-pruned') };
    const file = writeBundle('pruned.cjs', 'module.exports = 1;\n');
    const made = loadInChild(file, own);
    const folder = path.dirname(made.cacheFile!);
    const weekAgo = Date.now() / 1000 - UNUSED_FOR_MS / 1000 - 3600;
    const stale = ['pruned-00000000000000000000-v18.0.0-x64.bin', 'pruned-11111111111111111111-v20.0.0-x64.bin.123.abc.tmp'];
    const kept = ['pruned-22222222222222222222-v20.0.0-x64.bin', 'pruned.cjs-33333333333333333333-v20.0.0-x64.bin', 'other-00000000000000000000-v18.0.0-x64.bin'];
    for (const name of [...stale, ...kept]) writeFileSync(path.join(folder, name), 'x');
    for (const name of [...stale, kept[1]!, kept[2]!]) utimesSync(path.join(folder, name), weekAgo, weekAgo);
    // A used cache is touched, so its age counts from its last use.
    utimesSync(made.cacheFile!, weekAgo, weekAgo);
    assert.equal(loadInChild(file, own).cache, 'used');
    assert.ok(statSync(made.cacheFile!).mtimeMs > Date.now() - 60_000, 'the used cache was not touched');

    writeBundle('pruned.cjs', 'module.exports = 2;\n');
    assert.equal(loadInChild(file, own).cache, 'made');
    const left = readdirSync(folder);
    for (const name of stale) assert.ok(!left.includes(name), `${name} was kept`);
    for (const name of [...kept, path.basename(made.cacheFile!)]) assert.ok(left.includes(name), `${name} was deleted`);
  });

  test('writes one cache file per source, named for the node that made it', () => {
    const names = readdirSync(cacheDir());
    assert.ok(names.length > 0);
    for (const name of names) assert.match(name, new RegExp(`^[a-z-]+-[0-9a-f]{20}-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.bin$`));
  });
});
