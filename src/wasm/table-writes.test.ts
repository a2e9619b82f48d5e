import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { readLayout } from './binary.js';
import { bodiesChangeTables, bodiesDropSegments, scanBodies } from './table-writes.js';

const wabt = await wabtInit();

function wat(source: string): Uint8Array {
  const features = { simd: true, reference_types: true, bulk_memory: true, threads: true, multi_memory: true, tail_call: true };
  const mod = wabt.parseWat('test.wat', source, features as Parameters<typeof wabt.parseWat>[2]);
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** One function taking an i32, with `body`, beside a table, two memories and a function to reference. */
const fixture = (body: string) =>
  wat(`(module (type $t (func)) (table $t0 4 funcref) (table $t1 4 funcref) (memory $m 1 1 shared) (memory $m2 1) (data $d "x") (elem $e func $f)
      (func $f) (func (export "g") (param i32) (local i64 v128) ${body}))`);
const scan = (body: string) => bodiesChangeTables(fixture(body));
const drops = (body: string) => bodiesDropSegments(fixture(body));

/** The code section of a module with one `(func nop)`, with the nop replaced by `bytes`. */
function withBody(bytes: number[]): Uint8Array {
  const module = wat(`(module (func nop))`);
  const code = readLayout(module).sections.find((s) => s.id === 10)!;
  // count 1, size 3, no locals, nop, end
  assert.deepEqual([...module.subarray(code.start, code.end)], [1, 3, 0, 0x01, 0x0b]);
  const body = [0, ...bytes, 0x0b];
  const payload = [1, body.length, ...body];
  return Uint8Array.from([...module.subarray(0, code.start - 2), 10, payload.length, ...payload]);
}

describe('bodiesChangeTables', () => {
  test('finds each instruction that changes a table', () => {
    assert.equal(scan('(table.set $t1 (local.get 0) (ref.func $f))'), true);
    assert.equal(scan('(drop (table.grow $t0 (ref.null func) (i32.const 1)))'), true);
    assert.equal(scan('(table.fill $t0 (i32.const 0) (ref.null func) (i32.const 1))'), true);
    assert.equal(scan('(table.copy $t0 $t1 (i32.const 0) (i32.const 1) (i32.const 1))'), true);
    assert.equal(scan('(table.init $t0 $e (i32.const 0) (i32.const 0) (i32.const 1))'), true);
  });

  test('reads past immediates that hold the byte of table.set (0x26) without taking them for instructions', () => {
    assert.equal(
      scan(`
        (drop (i32.const 38)) (drop (i64.const 0x2626262626)) (drop (f32.const 0x1.4c4c4cp-51)) (drop (f64.const 0x1.6262626262626p-408))
        (drop (i32.load offset=38 align=1 (local.get 0))) (drop (i32.load $m2 offset=38 (local.get 0)))
        (drop (v128.const i8x16 38 38 38 38 38 38 38 38 38 38 38 38 38 38 38 38))
        (drop (i8x16.shuffle 38 0 38 0 38 0 38 0 1 2 3 4 5 6 7 8 (v128.const i64x2 0 0) (v128.const i64x2 0 0)))
        (drop (i8x16.extract_lane_s 15 (v128.const i64x2 0 0)))
        (drop (v128.load8_lane offset=38 15 (local.get 0) (v128.const i64x2 0 0)))
        (drop (i32.atomic.rmw.add offset=38 (local.get 0) (i32.const 1))) (atomic.fence)
        (memory.copy $m $m2 (i32.const 0) (i32.const 0) (i32.const 0)) (memory.init $d (i32.const 0) (i32.const 0) (i32.const 0)) (data.drop $d)
        (drop (table.get $t1 (local.get 0))) (drop (table.size $t1)) (elem.drop $e)
        (call_indirect $t1 (type $t) (i32.const 38))
        (block $a (block $b (br_table $a $b $a $a (local.get 0))))
        (drop (select (result i32) (i32.const 1) (i32.const 2) (local.get 0)))
        (drop (ref.is_null (ref.func $f)))
        (return_call $f)`),
      false,
    );
  });

  test('answers "unknown" for an opcode it does not decode, rather than guessing', () => {
    assert.equal(bodiesChangeTables(withBody([0x0a])), undefined);
    assert.equal(bodiesChangeTables(withBody([0xfb, 0x00])), undefined, 'GC instructions');
    assert.equal(bodiesChangeTables(withBody([0xfc, 0x20])), undefined);
  });

  test('answers "unknown" when a body\'s instructions do not end at its end', () => {
    // f64.const with 2 of its 8 bytes: read as the spec says, it runs past the body.
    assert.equal(bodiesChangeTables(withBody([0x44, 1, 2])), undefined);
  });

  test('a module with no code changes no table', () => {
    assert.equal(bodiesChangeTables(wat('(module (table 1 funcref))')), false);
  });
});

describe('bodiesDropSegments', () => {
  test('finds data.drop and elem.drop, and nothing in bodies that only use segments and tables', () => {
    assert.equal(drops('(data.drop $d)'), true);
    assert.equal(drops('(elem.drop $e)'), true);
    assert.equal(
      drops(`
        (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1)) (table.init $t0 $e (i32.const 0) (i32.const 0) (i32.const 1))
        (table.set $t1 (local.get 0) (ref.func $f)) (drop (table.grow $t0 (ref.null func) (i32.const 1)))
        (table.fill $t0 (i32.const 0) (ref.null func) (i32.const 1)) (table.copy $t0 $t1 (i32.const 0) (i32.const 1) (i32.const 1))
        (memory.fill (i32.const 0) (i32.const 9) (i32.const 1)) (drop (table.size $t1))`),
      false,
    );
  });

  test('answers "unknown" for a body it cannot read', () => {
    assert.equal(bodiesDropSegments(withBody([0xfc, 0x7f])), undefined);
  });
});

describe('scanBodies', () => {
  /** Two functions, so that what one holds and what the other holds are both found in one pass. */
  const twoBodies = (first: string, second: string) =>
    wat(`(module (table $t0 4 funcref) (memory 1) (data $d "x") (elem $e func $f) (func $f) (func ${first}) (func ${second}))`);

  test('answers both questions in one pass, whichever body holds what', () => {
    assert.deepEqual(scanBodies(twoBodies('(table.set $t0 (i32.const 0) (ref.func $f))', '(data.drop $d)')), { changesTables: true, dropsSegments: true });
    assert.deepEqual(scanBodies(twoBodies('(elem.drop $e)', 'nop')), { changesTables: false, dropsSegments: true });
    assert.deepEqual(scanBodies(twoBodies('nop', '(drop (table.grow $t0 (ref.null func) (i32.const 1)))')), { changesTables: true, dropsSegments: false });
    assert.deepEqual(scanBodies(twoBodies('(memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))', '(drop (table.get $t0 (i32.const 0)))')), { changesTables: false, dropsSegments: false });
  });

  test('agrees with each single question on every fixture of theirs', () => {
    for (const body of ['(data.drop $d)', '(elem.drop $e)', '(table.set $t1 (local.get 0) (ref.func $f))', '(table.copy $t0 $t1 (i32.const 0) (i32.const 1) (i32.const 1))', 'nop']) {
      const bytes = fixture(body);
      assert.deepEqual(scanBodies(bytes), { changesTables: bodiesChangeTables(bytes), dropsSegments: bodiesDropSegments(bytes) }, body);
    }
  });

  test('keeps what it found before a body it cannot read, and answers "unknown" for the rest', () => {
    const unreadable = withBody([0xfc, 0x7f]);
    assert.deepEqual(scanBodies(unreadable), { changesTables: undefined, dropsSegments: undefined });
    // A table.set (0x26 0x00) and then an unknown 0xfc instruction, in one body.
    const foundFirst = withBody([0x41, 0x00, 0xd0, 0x70, 0x26, 0x00, 0xfc, 0x7f]);
    assert.deepEqual(scanBodies(foundFirst), { changesTables: true, dropsSegments: undefined });
  });

  test('a module with no code holds neither', () => {
    assert.deepEqual(scanBodies(wat('(module (memory 1))')), { changesTables: false, dropsSegments: false });
  });
});
