import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureComponent } from '../../test/support/components.js';
import { prepareComponent } from './component.js';
import { GLUE_PATCHES, patchGlue } from './glue-patches.js';

/** A glue's shape around the debug switch as jco 0.15 emits it: defined in `instantiate`, called per host call. */
const GLUE = `export function instantiate(calls) {
  const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
    console.debug(...args);
  };
  for (let i = 0; i < calls; i++) _debugLog('[host call]', { i });
}`;

/** Runs a glue's `instantiate` with its own globalThis and console; counts the reads of JCO_DEBUG. */
function run(source: string, env: Record<string, string>, calls: number): { reads: number; logged: unknown[][] } {
  let reads = 0;
  const logged: unknown[][] = [];
  const envProxy = new Proxy(env, {
    get(target, key) {
      if (key === 'JCO_DEBUG') reads++;
      return target[key as string];
    },
  });
  const body = source.replace('export function instantiate', 'return function instantiate');
  const instantiate = new Function('globalThis', 'console', body)({ process: { env: envProxy } }, { debug: (...args: unknown[]) => logged.push(args) }) as (n: number) => void;
  instantiate(calls);
  return { reads, logged };
}

describe('glue patches', () => {
  test('the debug switch is read once per instantiation instead of once per host call', () => {
    assert.equal(run(GLUE, {}, 20).reads, 20, 'as jco emits it');
    const { source, applied } = patchGlue(GLUE);
    assert.deepEqual(applied, ['debug-switch-once']);
    assert.equal(run(source, {}, 20).reads, 1);
    assert.equal(run(source, {}, 20).logged.length, 0);
  });

  test('JCO_DEBUG still turns the glue\'s logging on', () => {
    const { source } = patchGlue(GLUE);
    assert.deepEqual(run(source, { JCO_DEBUG: '1' }, 2).logged, [['[host call]', { i: 0 }], ['[host call]', { i: 1 }]]);
  });

  test('glue without the text a patch names (another jco version) is left as it is', () => {
    const other = GLUE.replace('JCO_DEBUG', 'JCO_TRACE');
    assert.deepEqual(patchGlue(other), { source: other, applied: [] });
  });

  test('glue that already uses a name a patch would declare is left as it is, not given a second declaration', () => {
    const clash = GLUE.replace('export function instantiate(calls) {', 'export function instantiate(calls) {\n  let _debugOn = 0;');
    assert.deepEqual(patchGlue(clash), { source: clash, applied: [] });
  });

  test('the glue jco makes for a ComponentizeJS component is patched in the transpile cache, and the entry says so', async () => {
    const cacheRoot = mkdtempSync(path.join(os.tmpdir(), 'verge-glue-patch-'));
    try {
      const prepared = await prepareComponent(await fixtureComponent('portable'), { component: 'c', where: 'c', capPages: 2048, instanceReuse: 1, maxResponseBytes: 1024, cacheRoot });
      const glue = readFileSync(fileURLToPath(prepared.spec.glue), 'utf8');
      assert.equal(patchGlue(glue).applied.length, 0, 'nothing left to patch');
      assert.match(glue, /const _debugOn = !!globalThis\?\.process\?\.env\?\.JCO_DEBUG;/);
      const meta = JSON.parse(readFileSync(path.join(prepared.cacheDir, 'meta.json'), 'utf8')) as { gluePatches?: string };
      assert.equal(meta.gluePatches, GLUE_PATCHES);
    } finally {
      rmSync(cacheRoot, { recursive: true, force: true });
    }
  });
});
