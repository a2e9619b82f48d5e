/**
 * Property-based tests of the binary readers a hostile upload reaches before anything else looks
 * at it: the component import reader, and the core module reader and rewrite. Every input either
 * reads or fails with a VergeError whose message says what is wrong, in bounded time, and nothing
 * read from the input is larger than the input. A fixed seed keeps `npm test` repeatable;
 * `npm run fuzz` sets FUZZ_RUNS for a long run (and FUZZ_SEED, if set, picks other inputs).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import wabtInit from 'wabt';
import { VergeError } from '../errors.js';
import { DESCRIPTOR, EMPTY_INSTANCE_TYPE_SECTION, component, importSection, section, type ImportSpec } from '../../test/support/component-bytes.js';
import { componentExportNames, componentImports, readLayout, sandboxModule } from './binary.js';
import { componentAsyncUse } from './component-types.js';
import { mutate, mutationsArb } from '../../test/support/fuzz.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Fixed, so `npm test` is repeatable; a long run may pass FUZZ_SEED to explore other inputs (a failure prints its seed). */
const SEED = Number(process.env.FUZZ_SEED ?? 0x7665726);
/** Generous for a reader that is linear in its input (inputs here are at most a few KiB). */
const MAX_MS_PER_INPUT = 250;
const CAP_PAGES = 2048;

const wabt = await wabtInit();
function wat(source: string): Uint8Array {
  const mod = wabt.parseWat('fuzz.wat', source);
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** Runs `read` on `bytes`: a result, or a VergeError with a message in plain words; never anything else, never slow. */
function outcome<T>(read: (b: Uint8Array) => T, bytes: Uint8Array): { ok: true; value: T } | { ok: false; message: string } {
  const started = performance.now();
  try {
    return { ok: true, value: read(bytes) };
  } catch (err) {
    if (!(err instanceof VergeError)) throw new Error(`not a VergeError for input ${Buffer.from(bytes).toString('hex')}: ${String(err)}`, { cause: err });
    assert.ok(['MODULE_INVALID', 'MODULE_MEMORY'].includes(err.code), err.code);
    assert.doesNotMatch(err.message, /undefined|NaN|\[object/, `unclear message: ${err.message}`);
    return { ok: false, message: err.message };
  } finally {
    const ms = performance.now() - started;
    assert.ok(ms < MAX_MS_PER_INPUT, `took ${ms.toFixed(1)} ms on ${bytes.length} bytes`);
  }
}

const nameArb = fc.oneof(
  fc.constantFrom('wasi:http/types@0.2.10', 'wasi:io/streams@0.2.0', 'wasi:keyvalue/store@0.2.0-draft2', 'wasi:http/types@0.3.0', 'x'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const descriptorArb: fc.Arbitrary<number[]> = fc.oneof(
  fc.nat().map((i) => [...DESCRIPTOR.module(i)]),
  fc.nat().map((i) => [...DESCRIPTOR.func(i)]),
  fc.constantFrom(0x64, 0x73, 0x74, 0x7a, 0x7f).map((b) => [...DESCRIPTOR.valuePrimitive(b)]),
  fc.nat().map((i) => [...DESCRIPTOR.valueTypeIndex(i)]),
  fc.nat().map((i) => [...DESCRIPTOR.typeEq(i)]),
  fc.constant<number[]>([...DESCRIPTOR.typeSubResource()]),
  fc.nat().map((i) => [...DESCRIPTOR.instance(i)]),
  fc.nat().map((i) => [...DESCRIPTOR.component(i)]),
);
const KIND_OF_BYTE = ['module', 'func', 'value', 'type', 'component', 'instance'] as const;
const importArb: fc.Arbitrary<Required<ImportSpec>> = fc.record({ name: nameArb, form: fc.constantFrom(0x00, 0x01), descriptor: descriptorArb });
/** A component of type, import and custom sections in any order, as toolchains write them. */
const componentArb = fc
  .array(
    fc.oneof(
      fc.array(importArb, { maxLength: 6 }).map((imports) => ({ imports, bytes: importSection(imports) })),
      fc.constant({ imports: [] as Array<Required<ImportSpec>>, bytes: EMPTY_INSTANCE_TYPE_SECTION }),
      fc.uint8Array({ maxLength: 30 }).map((b) => ({ imports: [] as Array<Required<ImportSpec>>, bytes: section(0, [0x01, 0x63, ...b]) })),
    ),
    { maxLength: 5 },
  )
  .map((sections) => ({ imports: sections.flatMap((s) => s.imports), bytes: component(...sections.map((s) => s.bytes)) }));

function assertBoundedImports(bytes: Uint8Array, imports: ReturnType<typeof componentImports>): void {
  assert.ok(imports.length <= bytes.length, 'no more imports than bytes');
  const nameBytes = imports.reduce((n, i) => n + Buffer.byteLength(i.name), 0);
  assert.ok(nameBytes <= bytes.length, 'names no larger than the input');
}

describe('component import reader, fuzzed', () => {
  test('reads back every well-formed component it is given, in either name form', () => {
    fc.assert(
      fc.property(componentArb, ({ imports, bytes }) => {
        const read = outcome(componentImports, bytes);
        assert.ok(read.ok, read.ok ? '' : read.message);
        assert.deepEqual(
          read.value,
          imports.map((i) => ({ name: i.name, kind: KIND_OF_BYTE[i.descriptor[0]!] })),
        );
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('answers mutated components with imports or a clear MODULE_INVALID, in bounded time', () => {
    fc.assert(
      fc.property(componentArb, mutationsArb, ({ bytes }, mutations) => {
        const mutated = mutate(bytes, mutations);
        const read = outcome(componentImports, mutated);
        if (read.ok) assertBoundedImports(mutated, read.value);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('answers mutated components with their exports and async use or a clear MODULE_INVALID, in bounded time', () => {
    fc.assert(
      fc.property(componentArb, mutationsArb, ({ bytes }, mutations) => {
        const mutated = mutate(bytes, mutations);
        outcome(componentExportNames, mutated);
        outcome(componentAsyncUse, mutated);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('answers random bytes behind a component header with imports or a clear MODULE_INVALID', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        const bytes = component([...tail]);
        const read = outcome(componentImports, bytes);
        if (read.ok) assertBoundedImports(bytes, read.value);
        outcome(componentExportNames, bytes);
        outcome(componentAsyncUse, bytes);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('refuses sizes and counts far beyond the input without allocating for them', () => {
    // Sizes and counts near 2^32: a reader that trusted them would allocate or loop that much.
    const huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    const cases = [
      component([10, ...huge]),
      component(section(10, [...huge])),
      component(section(10, [...huge, 0x00, 0x01, 0x61, 0x05, 0x00])),
      component(section(10, [0x01, 0x00, ...huge, 0x61])),
      component(section(10, [0x01, 0x00, 0x01, 0x61, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
    ];
    for (const bytes of cases) {
      const read = outcome(componentImports, bytes);
      assert.ok(!read.ok, `refused: ${Buffer.from(bytes).toString('hex')}`);
    }
  });
});

describe('core module reader and memory rewrite, fuzzed', () => {
  const seeds = [
    wat('(module)'),
    wat('(module (memory 1 4) (func (export "_start")))'),
    wat('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))) (memory 2) (data (i32.const 0) "hi") (func (export "_start")))'),
    wat('(module (import "env" "t" (table 1 funcref)) (import "env" "g" (global i32)) (memory 1) (export "memory" (memory 0)))'),
  ];

  test('answers mutated modules with a layout, a rewrite or a clear error, in bounded time', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), mutationsArb, (base, mutations) => {
        const mutated = mutate(base, mutations);
        const layout = outcome(readLayout, mutated);
        if (layout.ok) {
          assert.ok(layout.value.imports.length + layout.value.memories.length <= mutated.length);
          for (const s of layout.value.sections) assert.ok(s.start <= s.end && s.end <= mutated.length);
        }
        const rewritten = outcome((b) => sandboxModule(b, CAP_PAGES), mutated);
        if (rewritten.ok) assert.ok(rewritten.value.bytes.length <= mutated.length + 64, 'the rewrite adds only the memory import');
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('answers random bytes behind a module header with a clear error or a layout', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
        const bytes = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...tail]);
        outcome(readLayout, bytes);
        outcome((b) => sandboxModule(b, CAP_PAGES), bytes);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('answers short or foreign headers with a clear error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.boolean(), (bytes, withMagic) => {
        const input = withMagic ? Uint8Array.from([0x00, 0x61, 0x73, 0x6d, ...bytes]) : bytes;
        outcome(readLayout, input);
        outcome(componentImports, input);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test('rewrites every unmutated seed into a module that compiles', () => {
    for (const base of seeds) assert.ok(new WebAssembly.Module(sandboxModule(base, CAP_PAGES).bytes));
  });
});
