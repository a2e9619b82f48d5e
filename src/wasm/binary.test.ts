import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { VergeError } from '../errors.js';
import { DESCRIPTOR, EMPTY_INSTANCE_TYPE_SECTION, component, importSection, section, u32 } from '../../test/support/component-bytes.js';
import { SANDBOX_MEMORY_IMPORT, WASM_PAGE_BYTES, componentExportNames, componentImportNames, componentImports, isComponentBinary, isCoreModule, pagesToMib, readLayout, sandboxModule } from './binary.js';

type Wabt = Awaited<ReturnType<typeof wabtInit>>;
type Features = Parameters<Wabt['parseWat']>[2];

/** Feature flags wabt's parseWat accepts; multi_memory is accepted at runtime but missing from its typings. */
const FEATURES = { multi_memory: true, threads: true, memory64: true, annotations: true, exceptions: true, bulk_memory: true } as Features;

const wabt: Wabt = await wabtInit();

function wat(source: string, opts: { debugNames?: boolean } = {}): Uint8Array {
  // No mod.validate(): wabt's validator ignores the feature flags (it rejects shared and multiple
  // memories); the modules that are run are validated by WebAssembly.Module instead.
  const mod = wabt.parseWat('test.wat', source, FEATURES);
  try {
    return new Uint8Array(mod.toBinary({ write_debug_names: opts.debugNames ?? false }).buffer);
  } finally {
    mod.destroy();
  }
}

/** The module disassembled by wabt (an independent reader of what sandboxModule wrote). */
function disassemble(bytes: Uint8Array): string {
  const mod = wabt.readWasm(bytes, { readDebugNames: false, ...FEATURES });
  try {
    mod.validate();
    return mod.toText({});
  } finally {
    mod.destroy();
  }
}

/** Runs `fn`, expects a VergeError with `code` and returns its message. */
function vergeError(code: string, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VergeError, `expected a VergeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected a ${code} error`);
}

function instantiate(bytes: Uint8Array, memory: WebAssembly.Memory, imports: WebAssembly.Imports = {}): WebAssembly.Exports {
  const module = new WebAssembly.Module(bytes);
  return new WebAssembly.Instance(module, { ...imports, [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory } }).exports;
}

function customSection(name: string, content: string): number[] {
  const n = [...Buffer.from(name)];
  return section(0, [n.length, ...n, ...Buffer.from(content)]);
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const CAP = 10;

describe('isCoreModule', () => {
  test('is true for the core module header (version 1)', () => {
    assert.equal(isCoreModule(Uint8Array.from(HEADER)), true);
    assert.equal(isCoreModule(wat('(module)')), true);
  });

  test('is false for a component-model header, other versions, garbage and short input', () => {
    assert.equal(isCoreModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00])), false);
    assert.equal(isCoreModule(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00])), false);
    assert.equal(isCoreModule(new Uint8Array(Buffer.from('#!/bin/sh\necho'))), false);
    assert.equal(isCoreModule(Uint8Array.from(HEADER.slice(0, 7))), false);
    assert.equal(isCoreModule(new Uint8Array(0)), false);
  });
});

describe('readLayout', () => {
  test('reads the sections, the imports of every kind and the memories', () => {
    const bytes = wat(`(module
      (import "env" "f" (func (param i32)))
      (import "env" "t" (table 1 funcref))
      (import "env" "g" (global i32))
      (import "env" "tag" (tag (param i32)))
      (memory 3 7)
      (func (export "_start")))`);
    const layout = readLayout(bytes);
    assert.deepEqual(layout.imports, [
      { module: 'env', name: 'f', kind: 'function' },
      { module: 'env', name: 't', kind: 'table' },
      { module: 'env', name: 'g', kind: 'global' },
      { module: 'env', name: 'tag', kind: 'tag' },
    ]);
    assert.equal(layout.importedMemories, 0);
    assert.deepEqual(layout.memories, [{ initialPages: 3, maximumPages: 7, shared: false, memory64: false }]);
    const ids = layout.sections.map((s) => s.id);
    assert.ok(ids.includes(2) && ids.includes(5), `sections ${ids.join(',')}`);
    for (const s of layout.sections) assert.ok(s.start <= s.end && s.end <= bytes.length);
  });

  test('reads a memory without a maximum, a shared memory and a 64-bit memory', () => {
    assert.deepEqual(readLayout(wat('(module (memory 2))')).memories, [{ initialPages: 2, maximumPages: undefined, shared: false, memory64: false }]);
    assert.deepEqual(readLayout(wat('(module (memory 1 4 shared))')).memories, [{ initialPages: 1, maximumPages: 4, shared: true, memory64: false }]);
    assert.deepEqual(readLayout(wat('(module (memory i64 5))')).memories, [{ initialPages: 5, maximumPages: undefined, shared: false, memory64: true }]);
  });

  test('counts imported memories', () => {
    const layout = readLayout(wat('(module (import "env" "memory" (memory 1)))'));
    assert.equal(layout.importedMemories, 1);
    assert.deepEqual(layout.imports, [{ module: 'env', name: 'memory', kind: 'memory' }]);
    assert.deepEqual(layout.memories, []);
  });

  test('reads an empty module', () => {
    assert.deepEqual(readLayout(Uint8Array.from(HEADER)), { sections: [], imports: [], importedMemories: 0, memories: [] });
  });

  test('reads a multi-byte LEB128 initial size', () => {
    assert.equal(readLayout(wat('(module (memory 300))')).memories[0]!.initialPages, 300);
  });
});

describe('readLayout: malformed input (MODULE_INVALID)', () => {
  test('rejects bytes without the \\0asm magic', () => {
    assert.match(vergeError('MODULE_INVALID', () => readLayout(new Uint8Array(Buffer.from('hello, world')))), /magic/);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(new Uint8Array(0))), /magic/);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(Uint8Array.from([0x00, 0x61]))), /magic/);
  });

  test('rejects a header cut short after the magic, saying how long it is (found by fuzzing)', () => {
    const msg = vergeError('MODULE_INVALID', () => readLayout(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01])));
    assert.match(msg, /the header is 5 bytes; a module starts with 8/);
    assert.doesNotMatch(msg, /undefined/);
  });

  test('rejects a repeated section, so the rewrite cannot copy one import section per repeat (found by fuzzing)', () => {
    // Before: every empty import section came out as a copy of the first one, plus the memory import.
    const big = section(2, [0x01, 0x01, 0x61, 0x60, ...Buffer.from('x'.repeat(0x60)), 0x00, 0x00]);
    const bytes = Uint8Array.from([...HEADER, ...big, ...Array.from({ length: 100 }, () => [0x02, 0x00]).flat(), ...section(5, [0x01, 0x00, 0x01])]);
    assert.match(vergeError('MODULE_INVALID', () => sandboxModule(bytes, 16)), /section 2 appears twice/);
  });

  test('rejects sections out of order, so the rewrite cannot write the import section twice (found by fuzzing)', () => {
    // A data count section (12) first: the rewrite put the import section before it, then again in its own place.
    const bytes = Uint8Array.from([...HEADER, ...section(12, [0x00]), ...section(2, [0x00]), ...section(5, [0x01, 0x00, 0x01])]);
    assert.match(vergeError('MODULE_INVALID', () => sandboxModule(bytes, 16)), /section 2 comes after section 12; sections must be in the order/);
  });

  test('takes the tag and data count sections in their places', () => {
    const layout = readLayout(wat('(module (memory 1) (tag) (data (i32.const 0) "x") (func (export "_start") (memory.init 0 (i32.const 0) (i32.const 0) (i32.const 0))))'));
    assert.deepEqual(layout.sections.map((s) => s.id).filter((id) => id === 13 || id === 12), [13, 12]);
  });

  test('rejects an unknown section id, and keeps any number of custom sections', () => {
    assert.match(vergeError('MODULE_INVALID', () => readLayout(Uint8Array.from([...HEADER, ...section(14, [])]))), /unknown section id 14/);
    const customs = Array.from({ length: 3 }, () => section(0, [0x01, 0x61])).flat();
    assert.equal(readLayout(Uint8Array.from([...HEADER, ...customs])).sections.length, 3);
  });

  test('rejects a component-model binary, saying it is a component', () => {
    const component = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00]);
    const msg = vergeError('MODULE_INVALID', () => readLayout(component));
    assert.match(msg, /component/);
    assert.match(msg, /core module/);
  });

  test('rejects a section that runs past the end of the module', () => {
    const bytes = wat('(module (memory 1) (func (export "f")))');
    const msg = vergeError('MODULE_INVALID', () => readLayout(bytes.subarray(0, bytes.length - 2)));
    assert.match(msg, /not a valid WebAssembly module: section \d+ runs past the end/);
  });

  test('rejects a module truncated inside a section header', () => {
    assert.match(vergeError('MODULE_INVALID', () => readLayout(Uint8Array.from([...HEADER, 0x05]))), /not a valid WebAssembly module/);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(Uint8Array.from([...HEADER, 0x05, 0x80]))), /not a valid WebAssembly module/);
  });

  test('rejects every truncation of a real module', () => {
    const bytes = wat('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory 1) (data (i32.const 0) "hi") (func (export "_start")))');
    for (let n = 9; n < bytes.length; n++) {
      const cut = bytes.subarray(0, n);
      let code: string | undefined;
      try {
        readLayout(cut);
      } catch (err) {
        assert.ok(err instanceof VergeError, `length ${n}: ${String(err)}`);
        code = err.code;
      }
      // A cut that falls exactly between two sections is a well-formed (shorter) module.
      if (code !== undefined) assert.equal(code, 'MODULE_INVALID', `length ${n}`);
    }
  });

  test('rejects a LEB128 integer that is too long', () => {
    const bytes = Uint8Array.from([...HEADER, 0x05, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(bytes)), /LEB128/);
  });

  test('rejects an import name that runs past its section', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(2, [0x01, 0x10, 0x61])]);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(bytes)), /name runs past the section/);
  });

  test('rejects an import name that is not UTF-8', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(2, [0x01, 0x01, 0xff, 0x01, 0x61, 0x00, 0x00])]);
    assert.equal(vergeError('MODULE_INVALID', () => readLayout(bytes)).length > 0, true);
  });

  test('rejects an unknown import kind, naming the import', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(2, [0x01, 0x01, 0x61, 0x01, 0x62, 0x09, 0x00])]);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(bytes)), /unknown import kind 0x9 for a\.b/);
  });

  test('rejects unknown memory limits flags', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(5, [0x01, 0x08, 0x01])]);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(bytes)), /unknown limits flags 0x8/);
  });

  test('rejects a memory section whose count promises more entries than it holds', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(5, [0x02, 0x00, 0x01])]);
    assert.match(vergeError('MODULE_INVALID', () => readLayout(bytes)), /unexpected end of section/);
  });
});

describe('sandboxModule: the memory rewrite', () => {
  test('turns (memory 2) into an import of verge:sandbox.memory with min 2 and max = the cap', () => {
    const result = sandboxModule(wat('(module (memory 2))'), CAP);
    assert.deepEqual(result.memory, { initialPages: 2, maximumPages: CAP });
    const layout = readLayout(result.bytes);
    assert.deepEqual(layout.imports, [{ module: 'verge:sandbox', name: 'memory', kind: 'memory' }]);
    assert.equal(layout.importedMemories, 1);
    assert.deepEqual(layout.memories, []);
    assert.match(disassemble(result.bytes), /\(import "verge:sandbox" "memory" \(memory \(;0;\) 2 10\)\)/);
  });

  test('keeps a declared maximum lower than the cap', () => {
    const result = sandboxModule(wat('(module (memory 1 3))'), CAP);
    assert.deepEqual(result.memory, { initialPages: 1, maximumPages: 3 });
    assert.match(disassemble(result.bytes), /\(memory \(;0;\) 1 3\)/);
  });

  test('lowers a declared maximum higher than the cap to the cap', () => {
    const result = sandboxModule(wat('(module (memory 1 65536))'), CAP);
    assert.deepEqual(result.memory, { initialPages: 1, maximumPages: CAP });
    assert.match(disassemble(result.bytes), /\(memory \(;0;\) 1 10\)/);
  });

  test('accepts an initial size equal to the cap', () => {
    assert.deepEqual(sandboxModule(wat('(module (memory 10))'), CAP).memory, { initialPages: 10, maximumPages: 10 });
  });

  test('accepts a zero-page memory', () => {
    const result = sandboxModule(wat('(module (memory 0))'), CAP);
    assert.deepEqual(result.memory, { initialPages: 0, maximumPages: CAP });
    new WebAssembly.Module(result.bytes);
  });

  test('encodes large page counts as multi-byte LEB128', () => {
    const result = sandboxModule(wat('(module (memory 300))'), 65536);
    assert.deepEqual(result.memory, { initialPages: 300, maximumPages: 65536 });
    assert.match(disassemble(result.bytes), /\(memory \(;0;\) 300 65536\)/);
  });

  test('rejects an initial size over the cap with MODULE_MEMORY, in pages and MiB', () => {
    const msg = vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (memory 17))'), 16));
    assert.match(msg, /17 pages \(1\.0625 MiB\)/);
    assert.match(msg, /16 pages \(1 MiB\)/);
    assert.match(msg, /memory_mib/);
  });

  test('rejects an imported memory with MODULE_MEMORY, naming the import', () => {
    const msg = vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (import "env" "memory" (memory 1)))'), CAP));
    assert.match(msg, /imports its memory \(env\.memory\)/);
  });

  test('rejects a shared memory with MODULE_MEMORY', () => {
    assert.match(vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (memory 1 2 shared))'), CAP)), /shared memory/);
  });

  test('rejects a 64-bit memory with MODULE_MEMORY', () => {
    assert.match(vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (memory i64 1))'), CAP)), /memory64/);
  });

  test('rejects two memories with MODULE_MEMORY', () => {
    assert.match(vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (memory 1) (memory 2))'), CAP)), /defines 2 memories/);
  });

  test('rejects an imported memory next to a defined one with MODULE_MEMORY', () => {
    assert.match(
      vergeError('MODULE_MEMORY', () => sandboxModule(wat('(module (import "env" "m" (memory 1)) (memory 1))'), CAP)),
      /imports its memory \(env\.m\)/,
    );
  });

  test('returns a module without memory unchanged', () => {
    const bytes = wat('(module (func (export "_start")))');
    const result = sandboxModule(bytes, CAP);
    assert.equal(result.memory, undefined);
    assert.equal(result.bytes, bytes);
  });

  test('propagates MODULE_INVALID for garbage and truncated bytes', () => {
    vergeError('MODULE_INVALID', () => sandboxModule(new Uint8Array(Buffer.from('not wasm at all')), CAP));
    const bytes = wat('(module (memory 1))');
    vergeError('MODULE_INVALID', () => sandboxModule(bytes.subarray(0, bytes.length - 1), CAP));
  });

  test('rejects a component-model binary with MODULE_INVALID mentioning component', () => {
    const component = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x01, 0x00]);
    assert.match(vergeError('MODULE_INVALID', () => sandboxModule(component, CAP)), /component/);
  });

  test('does not modify its input', () => {
    const bytes = wat('(module (memory 2) (data (i32.const 0) "x"))');
    const copy = bytes.slice();
    sandboxModule(bytes, CAP);
    assert.deepEqual(bytes, copy);
  });

  test('works on a view with an offset into a larger buffer', () => {
    const inner = wat('(module (memory (export "memory") 2) (func (export "_start")))');
    const backing = new Uint8Array(inner.length + 20).fill(0xee);
    backing.set(inner, 7);
    const result = sandboxModule(backing.subarray(7, 7 + inner.length), CAP);
    assert.deepEqual(result.memory, { initialPages: 2, maximumPages: CAP });
    new WebAssembly.Module(result.bytes);
  });
});

describe('sandboxModule: the rewritten module runs', () => {
  test('compiles and instantiates with a provided memory, which becomes its exported memory', () => {
    const result = sandboxModule(wat('(module (memory (export "memory") 2) (func (export "_start")))'), CAP);
    const module = new WebAssembly.Module(result.bytes);
    assert.deepEqual(WebAssembly.Module.imports(module), [{ module: 'verge:sandbox', name: 'memory', kind: 'memory' }]);
    const memory = new WebAssembly.Memory({ initial: result.memory!.initialPages, maximum: result.memory!.maximumPages });
    const exports = instantiate(result.bytes, memory);
    assert.equal(exports.memory, memory);
    assert.equal(memory.buffer.byteLength, 2 * WASM_PAGE_BYTES);
  });

  test('lands data segments in the provided memory', () => {
    const result = sandboxModule(wat('(module (memory 1) (data (i32.const 16) "hello") (data (i32.const 65530) "edge"))'), CAP);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: result.memory!.maximumPages });
    instantiate(result.bytes, memory);
    assert.equal(Buffer.from(memory.buffer, 16, 5).toString(), 'hello');
    assert.equal(Buffer.from(memory.buffer, 65530, 4).toString(), 'edge');
  });

  test('loads and stores through the provided memory', () => {
    const result = sandboxModule(
      wat(`(module (memory 1)
        (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
        (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))`),
      CAP,
    );
    const memory = new WebAssembly.Memory({ initial: 1, maximum: result.memory!.maximumPages });
    const ex = instantiate(result.bytes, memory) as { store: (a: number, v: number) => void; load: (a: number) => number };
    new DataView(memory.buffer).setInt32(100, 1234, true);
    assert.equal(ex.load(100), 1234);
    ex.store(200, 77);
    assert.equal(new DataView(memory.buffer).getInt32(200, true), 77);
  });

  test('memory.grow past the cap returns -1', () => {
    const result = sandboxModule(
      wat(`(module (memory 1)
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
        (func (export "size") (result i32) (memory.size)))`),
      3,
    );
    assert.deepEqual(result.memory, { initialPages: 1, maximumPages: 3 });
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 3 });
    const ex = instantiate(result.bytes, memory) as { grow: (n: number) => number; size: () => number };
    assert.equal(ex.grow(5), -1);
    assert.equal(ex.grow(1), 1);
    assert.equal(ex.grow(1), 2);
    assert.equal(ex.size(), 3);
    assert.equal(ex.grow(1), -1);
    assert.equal(ex.size(), 3);
    assert.equal(memory.buffer.byteLength, 3 * WASM_PAGE_BYTES);
  });

  test('memory.grow stops at a declared maximum lower than the cap', () => {
    const result = sandboxModule(wat('(module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))'), CAP);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: result.memory!.maximumPages });
    const ex = instantiate(result.bytes, memory) as { grow: (n: number) => number };
    assert.equal(ex.grow(1), 1);
    assert.equal(ex.grow(1), -1);
  });

  test('refuses to link with a memory whose maximum is above the cap or missing', () => {
    const result = sandboxModule(wat('(module (memory 1))'), 3);
    assert.throws(() => instantiate(result.bytes, new WebAssembly.Memory({ initial: 1, maximum: 4 })), WebAssembly.LinkError);
    assert.throws(() => instantiate(result.bytes, new WebAssembly.Memory({ initial: 1 })), WebAssembly.LinkError);
  });

  test('keeps existing imports and their function indices', () => {
    const bytes = wat(`(module
      (import "env" "add" (func $add (param i32 i32) (result i32)))
      (import "env" "seven" (func $seven (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "ok")
      (func (export "run") (result i32) (call $add (call $seven) (i32.load8_u (i32.const 0)))))`);
    const result = sandboxModule(bytes, CAP);
    const module = new WebAssembly.Module(result.bytes);
    assert.deepEqual(WebAssembly.Module.imports(module), [
      { module: 'env', name: 'add', kind: 'function' },
      { module: 'env', name: 'seven', kind: 'function' },
      { module: 'verge:sandbox', name: 'memory', kind: 'memory' },
    ]);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: CAP });
    const ex = instantiate(result.bytes, memory, { env: { add: (a: number, b: number) => a + b, seven: () => 7 } }) as { run: () => number; memory: unknown };
    assert.equal(ex.run(), 7 + 'o'.charCodeAt(0));
    assert.equal(ex.memory, memory);
  });

  test('inserts the import section in the right place in a module without one', () => {
    const bytes = wat(`(module
      (type (func (result i32)))
      (memory 1)
      (global $g (mut i32) (i32.const 5))
      (table 1 funcref)
      (elem (i32.const 0) $f)
      (func $f (result i32) (global.get $g))
      (start $init)
      (func $init (global.set $g (i32.const 9)))
      (export "f" (func $f))
      (data (i32.const 0) "x"))`);
    assert.equal(readLayout(bytes).imports.length, 0);
    const result = sandboxModule(bytes, CAP);
    const ids = readLayout(result.bytes).sections.map((s) => s.id);
    assert.deepEqual(
      ids.filter((id) => id !== 0),
      [...ids.filter((id) => id !== 0)].sort((a, b) => a - b),
      `sections in order: ${ids.join(',')}`,
    );
    assert.ok(!ids.includes(5), 'no memory section is left');
    const ex = instantiate(result.bytes, new WebAssembly.Memory({ initial: 1, maximum: CAP })) as { f: () => number };
    assert.equal(ex.f(), 9);
  });

  test('works for a module whose only section is the memory', () => {
    const bytes = Uint8Array.from([...HEADER, ...section(5, [0x01, 0x00, 0x02])]);
    const result = sandboxModule(bytes, CAP);
    assert.deepEqual(result.memory, { initialPages: 2, maximumPages: CAP });
    assert.deepEqual(WebAssembly.Module.imports(new WebAssembly.Module(result.bytes)), [{ module: 'verge:sandbox', name: 'memory', kind: 'memory' }]);
  });

  test('works with passive data segments and the data count section', () => {
    const bytes = wat(`(module (memory 1)
      (data $d "passive")
      (func (export "init") (memory.init $d (i32.const 32) (i32.const 0) (i32.const 7)) (data.drop $d)))`);
    assert.ok(readLayout(bytes).sections.some((s) => s.id === 12), 'the module has a data count section');
    const result = sandboxModule(bytes, CAP);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: CAP });
    (instantiate(result.bytes, memory) as { init: () => void }).init();
    assert.equal(Buffer.from(memory.buffer, 32, 7).toString(), 'passive');
  });

  test('keeps custom sections, wherever they are', () => {
    const inner = wat('(module (@custom "after" "tail") (memory 1) (func (export "_start")))');
    // A custom section before everything else, and the module's own sections after it.
    const bytes = Uint8Array.from([...HEADER, ...customSection('first', 'head'), ...inner.subarray(8), ...customSection('last', 'end')]);
    new WebAssembly.Module(bytes);
    const result = sandboxModule(bytes, CAP);
    const module = new WebAssembly.Module(result.bytes);
    const custom = (name: string) => WebAssembly.Module.customSections(module, name).map((b) => Buffer.from(b).toString());
    assert.deepEqual(custom('first'), ['head']);
    assert.deepEqual(custom('after'), ['tail']);
    assert.deepEqual(custom('last'), ['end']);
    instantiate(result.bytes, new WebAssembly.Memory({ initial: 1, maximum: CAP }));
  });

  test('keeps the name section of a module built with debug names', () => {
    const bytes = wat('(module (memory 1) (func $handler (export "_start")))', { debugNames: true });
    const result = sandboxModule(bytes, CAP);
    const module = new WebAssembly.Module(result.bytes);
    assert.equal(WebAssembly.Module.customSections(module, 'name').length, 1);
  });

  test('keeps a custom section between the type section and the rest', () => {
    const inner = wat('(module (type (func)) (memory 1) (func (export "_start") (type 0)))');
    const layout = readLayout(inner);
    const type = layout.sections.find((s) => s.id === 1)!;
    const bytes = Uint8Array.from([...inner.subarray(0, type.end), ...customSection('mid', 'dle'), ...inner.subarray(type.end)]);
    const result = sandboxModule(bytes, CAP);
    const module = new WebAssembly.Module(result.bytes);
    assert.deepEqual(WebAssembly.Module.customSections(module, 'mid').map((b) => Buffer.from(b).toString()), ['dle']);
  });

  test('produces a module that sandboxModule reads back as an imported memory', () => {
    const once = sandboxModule(wat('(module (memory 1))'), CAP);
    assert.match(vergeError('MODULE_MEMORY', () => sandboxModule(once.bytes, CAP)), /verge:sandbox\.memory/);
  });
});

describe('pagesToMib', () => {
  test('converts 64 KiB pages to MiB', () => {
    assert.equal(pagesToMib(16), 1);
    assert.equal(pagesToMib(2048), 128);
    assert.equal(pagesToMib(1), 0.0625);
  });
});

describe('components', () => {
  test('reads the interface names a component imports from its import section', () => {
    const bytes = component(EMPTY_INSTANCE_TYPE_SECTION, importSection([{ name: 'wasi:http/types@0.2.10' }]));
    assert.ok(isComponentBinary(bytes));
    assert.deepEqual(componentImportNames(bytes), ['wasi:http/types@0.2.10']);
  });

  test('reads names in the older 0x01 form (cargo-component, componentize-dotnet before September 2024) as the same names', () => {
    const names = ['wasi:http/types@0.2.0', 'wasi:io/streams@0.2.0', 'wasi:cli/stdout@0.2.1'];
    const bytes = component(EMPTY_INSTANCE_TYPE_SECTION, importSection(names.map((name) => ({ name, form: 0x01 }))));
    assert.deepEqual(componentImportNames(bytes), names);
  });

  test('reads a section that mixes both name forms', () => {
    const bytes = component(
      EMPTY_INSTANCE_TYPE_SECTION,
      importSection([
        { name: 'wasi:io/error@0.2.0', form: 0x01 },
        { name: 'wasi:io/poll@0.2.0', form: 0x00 },
        { name: 'wasi:io/streams@0.2.0', form: 0x01 },
      ]),
    );
    assert.deepEqual(componentImportNames(bytes), ['wasi:io/error@0.2.0', 'wasi:io/poll@0.2.0', 'wasi:io/streams@0.2.0']);
  });

  test('reads every extern descriptor kind and the import after it', () => {
    const kinds = [
      ['module', DESCRIPTOR.module(3)],
      ['func', DESCRIPTOR.func(300)],
      ['value', DESCRIPTOR.valuePrimitive(0x73)],
      ['value', DESCRIPTOR.valuePrimitive(0x64)],
      ['value', DESCRIPTOR.valueTypeIndex(0)],
      ['value', DESCRIPTOR.valueTypeIndex(64)], // bit 6 set: two bytes as an s33, one as a u32
      ['value', DESCRIPTOR.valueTypeIndex(0xffffffff)],
      ['type', DESCRIPTOR.typeEq(1)],
      ['type', DESCRIPTOR.typeSubResource()],
      ['instance', DESCRIPTOR.instance(2)],
      ['component', DESCRIPTOR.component(4)],
    ] as const;
    for (const form of [0x00, 0x01]) {
      const imports = kinds.flatMap(([, descriptor], i) => [
        { name: `k${i}`, form, descriptor: [...descriptor] },
        { name: `after-${i}`, form, descriptor: DESCRIPTOR.instance(0) },
      ]);
      const read = componentImports(component(importSection(imports)));
      assert.deepEqual(
        read,
        kinds.flatMap(([kind], i) => [
          { name: `k${i}`, kind },
          { name: `after-${i}`, kind: 'instance' },
        ]),
      );
    }
  });

  test('reads the imports of every outer import section, and skips nested components', () => {
    const nested = component(importSection([{ name: 'inner:pkg/iface@1.0.0' }])).subarray(8);
    const bytes = component(importSection([{ name: 'a:b/c@0.2.0' }]), section(4, [...nested]), importSection([{ name: 'd:e/f@0.2.0', form: 0x01 }]));
    assert.deepEqual(componentImportNames(bytes), ['a:b/c@0.2.0', 'd:e/f@0.2.0']);
  });

  test('refuses an unknown name form, naming it and the forms it reads', () => {
    const message = vergeError('MODULE_INVALID', () => componentImportNames(component(importSection([{ name: 'x', form: 0x02 }]))));
    assert.match(message, /import 0 has an unknown name form 0x02 \(expected 0x00, or 0x01 from older encoders\)/);
  });

  test('refuses malformed descriptors with MODULE_INVALID naming the import', () => {
    const cases: Array<[number[], RegExp]> = [
      [[0x06, 0x00], /import x has an unknown kind 0x06/],
      [[0x00, 0x10, 0x00], /import x is a core item of sort 0x10; a component can import only core modules/],
      [[0x03, 0x02], /import x has an unknown type bound 0x02/],
      [[0x02, 0x40], /unknown value type 0x40/],
      [[0x02, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], /LEB128 integer too long/],
      [[0x02, 0x80, 0x80, 0x80, 0x80, 0x20], /a type index is out of range/],
      [[0x04], /unexpected end of section/],
    ];
    for (const [descriptor, expected] of cases) {
      assert.match(vergeError('MODULE_INVALID', () => componentImportNames(component(importSection([{ name: 'x', descriptor }])))), expected);
    }
  });

  test('refuses bytes left over after the imports an import section counts', () => {
    const good = importSection([{ name: 'x' }]);
    const payload = [...good.slice(2), 0x00];
    assert.match(vergeError('MODULE_INVALID', () => componentImportNames(component(section(10, payload)))), /1 bytes after its 1 imports/);
  });

  test('refuses a name longer than its section without reading past it', () => {
    const bytes = component(section(10, [0x01, 0x00, ...u32(1000), 0x61]));
    assert.match(vergeError('MODULE_INVALID', () => componentImportNames(bytes)), /name runs past the section/);
  });
});

describe('componentExportNames', () => {
  const name = (s: string) => [...u32(Buffer.byteLength(s)), ...Buffer.from(s)];
  test('reads the outer export names: plain, of a core item, and with a type ascription', () => {
    const exports = section(11, [
      0x03,
      ...[0x00, ...name('wasi:http/handler@0.3.0'), 0x05, 0x00, 0x00],
      ...[0x00, ...name('core-thing'), 0x00, 0x11, 0x01, 0x00],
      ...[0x01, ...name('wasi:cli/run@0.2.0'), 0x05, 0x01, 0x01, 0x05, 0x00],
    ]);
    assert.deepEqual(componentExportNames(component(exports)), ['wasi:http/handler@0.3.0', 'core-thing', 'wasi:cli/run@0.2.0']);
  });

  test('refuses an unknown type ascription flag, naming the export', () => {
    const bytes = component(section(11, [0x01, 0x00, ...name('x'), 0x05, 0x00, 0x07]));
    assert.match(vergeError('MODULE_INVALID', () => componentExportNames(bytes)), /export x has an unknown type ascription 0x07/);
  });
});
