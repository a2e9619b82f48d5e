import { test } from 'node:test';
import assert from 'node:assert/strict';
import { functionNames, moduleFunctionNames } from './name-section.js';
import { wat } from '../../test/support/wat.js';

test('reads function names from a module name section, imports first', async () => {
  const bytes = await wat('(module (import "m" "f" (func $imported)) (func $a) (func $b))', { names: true });
  assert.deepEqual([...moduleFunctionNames(new WebAssembly.Module(bytes))], [[0, 'imported'], [1, 'a'], [2, 'b']]);
});

test('a module without a name section has no names', async () => {
  assert.equal(moduleFunctionNames(new WebAssembly.Module(await wat('(module (func $a))'))).size, 0);
});

test('a malformed section keeps the names read before the fault', () => {
  // Subsection 1, size 9: two names, the second running past the end.
  const section = Uint8Array.from([1, 9, 2, 0, 1, 0x61, 1, 30, 0x62, 0x63, 0x64]);
  assert.deepEqual([...functionNames(section)], [[0, 'a']]);
});
