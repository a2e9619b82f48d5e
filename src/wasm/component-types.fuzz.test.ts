/**
 * Property-based tests of the component type reader and the comparison of its types: a hostile
 * component (a dependency is an uploaded file like any module) either reads, or fails with a
 * MODULE_INVALID or DEPENDENCY_INVALID whose message says what is wrong — never another error,
 * never slowly — and whatever it reads can be checked against itself. `npm run fuzz` runs more.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { VergeError } from '../errors.js';
import { component } from '../../test/support/component-bytes.js';
import { D, Decl, Import, Instance, T, canonLiftSection, exporting, exportsSection, importing, importsSection, instanceSection, typeSection } from '../../test/support/component-type-bytes.js';
import { fuzzParameters, mutate, mutationsArb } from '../../test/support/fuzz.js';
import { force, readComponentTypes, type Extern } from './component-types.js';
import { diffInstances, unlinkable } from './component-type-diff.js';

/** Generous for a reader that is linear in its input (inputs here are a few hundred bytes). */
const MAX_MS_PER_INPUT = 250;

/** Reads `bytes` and checks every interface it imports or exports against itself. */
function readAndCompare(bytes: Uint8Array): number {
  const types = readComponentTypes(bytes);
  let interfaces = 0;
  const externs: Extern[] = [...types.imports.values()];
  for (const lazy of types.exports.values()) externs.push(force(lazy));
  for (const e of externs) {
    if (e.sort !== 'instance') continue;
    interfaces++;
    for (const lazy of e.type.exports.values()) force(lazy);
    unlinkable(e.type);
    assert.deepEqual(diffInstances(e.type, e.type, { importer: 'a', exporter: 'b' }), [], 'an interface differs from itself');
  }
  return interfaces;
}

function outcome(bytes: Uint8Array): void {
  const started = performance.now();
  try {
    readAndCompare(bytes);
  } catch (err) {
    if (!(err instanceof VergeError)) throw new Error(`not a VergeError for input ${Buffer.from(bytes).toString('hex')}: ${String(err)}`, { cause: err });
    assert.ok(['MODULE_INVALID', 'DEPENDENCY_INVALID'].includes(err.code), err.code);
    assert.doesNotMatch(err.message, /undefined|NaN|\[object/, `unclear message: ${err.message}`);
  } finally {
    const ms = performance.now() - started;
    assert.ok(ms < MAX_MS_PER_INPUT, `took ${ms.toFixed(1)} ms on ${bytes.length} bytes`);
  }
}

const IFACE = 'acme:auth/verify@0.1.0';
const SEEDS = [
  importing(IFACE, [
    Decl.type(D.list(T.string)),
    Decl.type(D.record([['subject', T.string], ['scopes', T.ref(0)]])),
    Decl.exportType('claims', 1),
    Decl.type(D.result(T.ref(2), T.string)),
    Decl.type(D.func([['token', T.string]], T.ref(3))),
    Decl.exportFunc('verify', 4),
  ]),
  importing(IFACE, [
    Decl.type(D.variant([['a', undefined], ['b', T.u32]])),
    Decl.type(D.tuple([T.ref(0), T.char])),
    Decl.type(D.option(T.ref(1))),
    Decl.type(D.flags(['x', 'y'])),
    Decl.type(D.enum(['p', 'q'])),
    Decl.exportResource('session'),
    Decl.type(D.own(5)),
    Decl.type(D.func([['a', T.ref(2)], ['b', T.ref(3)], ['c', T.ref(4)]], T.ref(6))),
    Decl.exportFunc('f', 7),
  ]),
  exporting(IFACE, [D.list(T.string), D.record([['subject', T.string], ['scopes', T.ref(0)]]), D.result(T.ref(1), T.string), D.func([['token', T.string]], T.ref(2))], [
    { name: 'claims', type: 1 },
    { name: 'verify', func: 3 },
  ]),
  component(
    typeSection([D.func([['n', T.u32]], T.string), D.instance([Decl.type(D.func([], T.bool)), Decl.exportFunc('ok', 0)])]),
    importsSection([Import.instance('acme:a/x@1.0.0', 1)]),
    canonLiftSection(0),
    instanceSection([Instance.inline([{ name: 'show', sort: 'func', index: 0 }])]),
    exportsSection([
      { name: IFACE, sort: 'instance', index: 1 },
      { name: 'acme:a/y@1.0.0', sort: 'instance', index: 0 },
    ]),
  ),
];

describe('component type reader, fuzzed', () => {
  test('reads each seed and finds every interface in it equal to itself', () => {
    for (const seed of SEEDS) assert.ok(readAndCompare(seed) >= 1);
  });

  test('answers mutated components with types or a clear MODULE_INVALID or DEPENDENCY_INVALID, in bounded time', () => {
    fc.assert(
      fc.property(fc.constantFrom(...SEEDS), mutationsArb, (seed, mutations) => outcome(mutate(seed, mutations))),
      fuzzParameters(2000),
    );
  });

  test('answers random bytes behind a component header with types or a clear error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => outcome(component([...tail]))),
      fuzzParameters(2000),
    );
  });

  test('answers random type sections, the part that recurses, with types or a clear error', () => {
    const byte = fc.oneof(fc.constantFrom(0x40, 0x41, 0x42, 0x6a, 0x6b, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x79, 0x00, 0x01, 0x02, 0x03, 0x04), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 120 }), (payload) => outcome(component(typeSection([payload]), importsSection([Import.instance(IFACE, 0)])))),
      fuzzParameters(2000),
    );
  });
});
