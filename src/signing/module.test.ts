import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { customSection, expectCode, guestComponent, guestModule } from '../../test/support/signing.js';
import { embedSignature, embeddedSignature, hashSections, readSections } from './module.js';

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
/** A type section (one `func () -> ()`), then a custom section "n" holding "hi". */
const TYPE_SECTION = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
const CUSTOM_N = [0x00, 0x04, 0x01, 0x6e, 0x68, 0x69];
const SMALL = Uint8Array.from([...HEADER, ...TYPE_SECTION, ...CUSTOM_N]);

describe('readSections', () => {
  test('splits a core module into its sections, with custom section names', async () => {
    const m = readSections(await guestModule(), 'guest.wasm');
    assert.deepEqual(m.sections.at(-1)!.name, 'producers-note');
    assert.ok(m.sections.filter((s) => s.id === 10).length === 1, 'one code section');
  });

  test('splits a component the same way', () => {
    const m = readSections(guestComponent(), 'c.wasm');
    assert.deepEqual(m.sections.map((s) => s.id), [7, 10]);
  });

  test('refuses what is not a module or component, or whose last section runs past the end, as MODULE_INVALID', () => {
    assert.match(expectCode('MODULE_INVALID', () => readSections(Buffer.from('#!/bin/sh\necho hi\n'), 'script.wasm')), /^script\.wasm: not a valid WebAssembly module or component: it does not start with the header/);
    assert.match(expectCode('MODULE_INVALID', () => readSections(SMALL.subarray(0, SMALL.length - 1), 'cut.wasm')), /^cut\.wasm: not a valid WebAssembly module or component: 4 bytes run past the end/);
  });
});

describe('hashSections', () => {
  test('is SHA-256 over the sections as they are written, without the header', () => {
    const m = readSections(SMALL, 'm');
    assert.equal(hashSections(m, m.sections).toString('hex'), createHash('sha256').update(SMALL.subarray(8)).digest('hex'));
  });

  test('hashes padded LEB128 sizes as their canonical form, as wasmsign2 does when it signs', () => {
    // The same module with the type section size and the custom name length padded to 5 bytes.
    const padded = Uint8Array.from([...HEADER, 0x01, 0x84, 0x80, 0x80, 0x80, 0x00, 0x01, 0x60, 0x00, 0x00, 0x00, 0x08, 0x81, 0x80, 0x80, 0x80, 0x00, 0x6e, 0x68, 0x69]);
    const a = readSections(SMALL, 'm');
    const b = readSections(padded, 'm');
    assert.equal(b.sections[1]!.name, 'n');
    assert.deepEqual(hashSections(b, b.sections), hashSections(a, a.sections));
  });
});

describe('embedSignature and embeddedSignature', () => {
  test('put the signature data in a first section named "signature" and read it back, covering the sections after it', () => {
    const m = readSections(SMALL, 'm');
    const signed = embedSignature(m, Uint8Array.of(1, 2, 3));
    assert.deepEqual([...signed.subarray(0, 8 + 1 + 1 + 10)], [...HEADER, 0x00, 13, 9, ...Buffer.from('signature')]);
    assert.deepEqual([...signed.subarray(20 + 3)], [...SMALL.subarray(8)], 'the other sections are kept byte for byte');
    const back = embeddedSignature(readSections(signed, 'm'), 'm')!;
    assert.deepEqual([...back.data], [1, 2, 3]);
    assert.deepEqual(back.covered.map((s) => s.id), [1, 0]);
  });

  test('replace an embedded signature rather than add a second one', () => {
    const once = embedSignature(readSections(SMALL, 'm'), Uint8Array.of(1));
    const twice = embedSignature(readSections(once, 'm'), Uint8Array.of(2, 2));
    assert.equal(readSections(twice, 'm').sections.length, 3);
    assert.deepEqual([...embeddedSignature(readSections(twice, 'm'), 'm')!.data], [2, 2]);
  });

  test('find nothing in an unsigned module, and refuse a signature section that is not first', () => {
    assert.equal(embeddedSignature(readSections(SMALL, 'm'), 'm'), undefined);
    const late = Buffer.concat([SMALL, customSection('signature', Uint8Array.of(1, 1, 1, 0))]);
    assert.match(expectCode('SIGNATURE_INVALID', () => embeddedSignature(readSections(late, 'late.wasm'), 'late.wasm')), /^late\.wasm: section 2 is a "signature" section; signature data must be in the first section/);
  });
});
