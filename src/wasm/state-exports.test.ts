import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { exposeState, exposeStateForReset, stateExportsOf } from './state-exports.js';

const wabt = await wabtInit();

function wat(source: string): Uint8Array {
  const mod = wabt.parseWat('test.wat', source, { simd: true, reference_types: true, bulk_memory: true } as Parameters<typeof wabt.parseWat>[2]);
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

interface Exported {
  value?: unknown;
  length?: number;
  get?(i: number): unknown;
}

describe('exposeState', () => {
  test('exports every mutable global and table a module defines, beside its own exports, and lists them in a custom section', () => {
    const bytes = wat(`(module
      (import "env" "g" (global $imported (mut i32)))
      (global $sp (mut i32) (i32.const 1024))
      (global $constant i32 (i32.const 7))
      (global $wide (mut i64) (i64.const -5))
      (table $t 2 funcref)
      (elem (i32.const 1) $f)
      (func $f (result i32) (global.get $sp))
      (func (export "push") (global.set $sp (i32.add (global.get $sp) (i32.const 16))))
      (func (export "sp") (result i32) (global.get $sp)))`);
    const exposed = exposeState(bytes);
    assert.ok('state' in exposed, JSON.stringify(exposed));
    // Index 0 is the imported global: it belongs to whoever supplies it.
    assert.deepEqual(exposed.state, { globals: ['verge:state/global/1', 'verge:state/global/3'], tables: ['verge:state/table/0'], fixed: ['verge:state/table/0'] });
    const module = new WebAssembly.Module(exposed.bytes);
    assert.deepEqual(stateExportsOf(module), exposed.state);
    const instance = new WebAssembly.Instance(module, { env: { g: new (WebAssembly as unknown as { Global: new (d: object, v: number) => unknown }).Global({ value: 'i32', mutable: true }, 0) } });
    const ex = instance.exports as Record<string, Exported & (() => number)>;
    ex.push!();
    assert.equal(ex['verge:state/global/1']!.value, 1040, 'the export is the module global itself');
    ex['verge:state/global/1']!.value = 1024;
    assert.equal(ex.sp!(), 1024, 'writing the export sets what the module reads');
    assert.equal(ex['verge:state/global/3']!.value, -5n);
    assert.equal(ex['verge:state/table/0']!.length, 2);
    assert.equal(typeof ex['verge:state/table/0']!.get!(1), 'function');
  });

  test('adds an export section to a module that had none', () => {
    const exposed = exposeState(wat(`(module (global (mut f64) (f64.const 1.5)) (memory 1))`));
    assert.ok('state' in exposed);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(exposed.bytes));
    assert.equal((instance.exports['verge:state/global/0'] as Exported).value, 1.5);
  });

  test('refuses a module with a mutable v128 global, which the host cannot read back, and leaves it as it was', () => {
    const bytes = wat(`(module (global (mut v128) (v128.const i32x4 0 0 0 0)))`);
    const exposed = exposeState(bytes);
    assert.ok('refused' in exposed);
    assert.match(exposed.refused, /mutable global 0 has type 0x7b/);
    assert.equal(exposed.bytes, bytes);
    assert.equal(stateExportsOf(new WebAssembly.Module(exposed.bytes)), undefined);
  });

  test('marks a table fixed only when no function body can change a table and the module does not export it', () => {
    const table = (body: string, exported = '') => {
      const exposed = exposeState(wat(`(module (table $t ${exported} 4 funcref) (func $f) (elem declare func $f) (func (export "g") (param i32) ${body}))`));
      assert.ok('state' in exposed);
      return exposed.state.fixed;
    };
    assert.deepEqual(table('(drop (table.get $t (local.get 0))) (drop (i32.const 38))'), ['verge:state/table/0'], 'reads and an immediate 0x26 are not changes');
    assert.deepEqual(table('(table.set $t (local.get 0) (ref.func $f))'), []);
    assert.deepEqual(table('(drop (table.grow $t (ref.null func) (i32.const 1)))'), []);
    assert.deepEqual(table('(table.fill $t (i32.const 0) (ref.null func) (i32.const 1))'), []);
    assert.deepEqual(table('(table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 1))'), []);
    assert.deepEqual(table('', '(export "t")'), [], 'an exported table can be changed by whoever imports it');
  });

  test('a module with no mutable state still gets the section, with empty lists', () => {
    const exposed = exposeState(wat(`(module (func (export "f")))`));
    assert.deepEqual(stateExportsOf(new WebAssembly.Module(exposed.bytes)), { globals: [], tables: [], fixed: [] });
  });
});

describe('exposeStateForReset', () => {
  const refusal = (source: string) => {
    const exposed = exposeStateForReset(wat(source));
    return 'refused' in exposed ? exposed.refused : undefined;
  };

  test('exposes a module whose put-back instance would hold what a fresh one holds', () => {
    const exposed = exposeStateForReset(wat(`(module (global (mut i32) (i32.const 7)) (data (i32.const 0) "x") (func (export "_start") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0))) (memory 1))`));
    assert.ok(!('refused' in exposed));
    assert.deepEqual(stateExportsOf(new WebAssembly.Module(exposed.bytes))?.globals, ['verge:state/global/0']);
  });

  test('refuses a module with a start function, which a fresh instance would run again', () => {
    assert.equal(refusal(`(module (func $init) (start $init) (func (export "_start")))`), 'the module has a start function');
  });

  test('refuses a module that drops a data or element segment, which a fresh instance would have back', () => {
    assert.equal(refusal(`(module (memory 1) (data $d "x") (func (export "_start") (data.drop $d)))`), 'a function drops a data or element segment');
    assert.equal(refusal(`(module (table 1 funcref) (elem $e func $f) (func $f) (func (export "_start") (elem.drop $e)))`), 'a function drops a data or element segment');
  });
});
