import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isVergeError } from '../errors.js';
import { decodeHeader, encodeHeader, type TarHeader } from './ustar.js';
import { rawHeader, type RawHeader } from '../../test/support/ustar.js';

function refusal(h: RawHeader): string {
  try {
    decodeHeader(rawHeader(h), 1024);
  } catch (err) {
    assert.ok(isVergeError(err, 'BUNDLE_INVALID'), String(err));
    return err.message;
  }
  assert.fail(`header ${JSON.stringify(h)} was accepted`);
}

test('a header reads back as written, for files, folders and names too long for the name field', () => {
  const long = `${'d'.repeat(120)}/${'f'.repeat(90)}.wasm`;
  const cases: TarHeader[] = [
    { path: 'verge.toml', type: 'file', size: 0 },
    { path: 'target/release/web.wasm', type: 'file', size: 67_108_864 },
    { path: 'static', type: 'directory', size: 0 },
    { path: long, type: 'file', size: 513 },
    { path: 'ünïcode/名前.wasm', type: 'file', size: 1 },
  ];
  for (const h of cases) assert.deepEqual(decodeHeader(encodeHeader(h), 0), h);
});

test('the writer refuses a path it could not write or that the reader would refuse', () => {
  assert.throws(() => encodeHeader({ path: 'x'.repeat(101), type: 'file', size: 0 }), /does not fit a ustar header/);
  assert.throws(() => encodeHeader({ path: `${'d'.repeat(156)}/f`, type: 'file', size: 0 }), /does not fit a ustar header/);
  assert.throws(() => encodeHeader({ path: '../x', type: 'file', size: 0 }), /".." segment/);
  assert.throws(() => encodeHeader({ path: 'x', type: 'file', size: 8 ** 11 }), /does not fit/);
});

test('the reader accepts a header from a hand-built archive', () => {
  assert.deepEqual(decodeHeader(rawHeader({ name: 'web.wasm', size: 10 }), 0), { path: 'web.wasm', type: 'file', size: 10 });
  assert.deepEqual(decodeHeader(rawHeader({ name: 'web.wasm', prefix: 'a/b', type: '\0' }), 0), { path: 'a/b/web.wasm', type: 'file', size: 0 });
  assert.deepEqual(decodeHeader(rawHeader({ name: 'static/', type: '5' }), 0), { path: 'static', type: 'directory', size: 0 });
});

test('a bad header checksum is refused, naming the entry and its offset', () => {
  assert.match(refusal({ name: 'web.wasm', checksumError: 1 }), /entry at byte 1024 \("web\.wasm"\): the header checksum is wrong/);
});

test('links, devices and FIFOs are refused by name', () => {
  assert.match(refusal({ name: 'x', type: '2', linkname: '/etc/passwd' }), /is a symbolic link: a bundle holds only regular files and folders/);
  assert.match(refusal({ name: 'x', type: '1', linkname: 'verge.toml' }), /is a hard link/);
  assert.match(refusal({ name: 'x', type: '3' }), /is a character device/);
  assert.match(refusal({ name: 'x', type: '4' }), /is a block device/);
  assert.match(refusal({ name: 'x', type: '6' }), /is a FIFO/);
  assert.match(refusal({ name: 'x', type: 'Z' }), /unknown entry type "Z"/);
});

test('pax and GNU extension headers are refused as unsupported', () => {
  assert.match(refusal({ name: 'PaxHeaders/x', type: 'x' }), /is a pax extended header: pax and GNU extension headers are not supported/);
  assert.match(refusal({ name: 'pax_global_header', type: 'g' }), /pax global header/);
  assert.match(refusal({ name: '././@LongLink', type: 'L' }), /GNU long name/);
  assert.match(refusal({ name: 'x', magic: 'ustar ', version: ' \0' }), /old GNU tar headers are not supported/);
  assert.match(refusal({ name: 'x', magic: 'v7\0\0\0\0' }), /not a POSIX ustar header/);
});

test('unsafe names are refused with the rule they break', () => {
  assert.match(refusal({ name: '../../etc/cron.d/x' }), /\("\.\.\/\.\.\/etc\/cron\.d\/x"\): its path has a "\.\." segment/);
  assert.match(refusal({ name: '/etc/passwd' }), /its path is absolute/);
  assert.match(refusal({ name: 'x', prefix: '/etc' }), /its path is absolute/);
  assert.match(refusal({ name: '..\\x' }), /backslash/);
  assert.match(refusal({ name: 'a\u0001b' }), /NUL or control character/);
  assert.match(refusal({ name: '' }), /its path is empty/);
  assert.match(refusal({ name: 'file/' }), /empty segment/);
  assert.match(refusal({ name: 'x', nameField: Buffer.from('safe\0../../evil') }), /its name field has a NUL followed by more characters/);
  assert.match(refusal({ name: 'x', nameField: Buffer.from([0x61, 0xff, 0xfe]) }), /its name field is not valid UTF-8/);
});

test('a size that is not plain octal, or on a folder, is refused', () => {
  const base256 = Buffer.alloc(12);
  base256[0] = 0x80;
  base256[11] = 1;
  assert.match(refusal({ name: 'x', sizeField: base256 }), /base-256 form, which is not supported/);
  assert.match(refusal({ name: 'x', sizeField: Buffer.from('12345678z00\0') }), /its size field is not an octal number/);
  assert.match(refusal({ name: 'd/', type: '5', size: 10 }), /is a folder with a size of 10 bytes/);
});
