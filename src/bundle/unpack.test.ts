/**
 * Unpacking, honest and hostile. Every refusal is checked the same way: the right code and a
 * message naming the entry and the rule, nothing at destDir, no temp folder left beside it, and
 * nothing written where an entry tried to escape to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { ErrorCode } from '../errors.js';
import { vergeError } from '../../test/support/verge-error.js';
import { bundleId } from './id.js';
import type { BundleLimits } from './limits.js';
import { unpackBundle } from './unpack.js';
import { END_BLOCKS, MINIMAL_MANIFEST, MINIMAL_MODULE, minimalEntries, rawBundle, rawEntry, rawHeader } from '../../test/support/ustar.js';

function freshParent(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'verge-unpack-'));
}

/** A stream that hands out `bytes` in chunks of `chunk` as they are asked for, counting what it gave. */
function trickle(bytes: Buffer, chunk = 16 * 1024): { stream: Readable; given: () => number } {
  let at = 0;
  const stream = new Readable({
    highWaterMark: chunk,
    read() {
      this.push(at < bytes.length ? bytes.subarray(at, (at += chunk)) : null);
    },
  });
  return { stream, given: () => Math.min(at, bytes.length) };
}

async function refused(bundle: Buffer | Readable, code: ErrorCode, message: RegExp, limits?: Partial<BundleLimits>): Promise<void> {
  const parent = freshParent();
  const input = Buffer.isBuffer(bundle) ? trickle(bundle).stream : bundle;
  await assert.rejects(unpackBundle(input, path.join(parent, 'app'), limits), vergeError(code, message));
  assert.deepEqual(readdirSync(parent), [], 'nothing at destDir and no temp folder beside it');
}

test('a bundle unpacks into destDir, with its files, their listing and its id', async () => {
  const parent = freshParent();
  const dest = path.join(parent, 'versions', 'app');
  const result = await unpackBundle(trickle(rawBundle(...minimalEntries())).stream, dest);
  assert.equal(result.manifestFile, path.join(dest, 'verge.toml'));
  assert.equal(readFileSync(result.manifestFile, 'utf8'), MINIMAL_MANIFEST);
  assert.ok(readFileSync(path.join(dest, 'web.wasm')).equals(MINIMAL_MODULE));
  assert.deepEqual(result.files.map((f) => [f.path, f.size]), [['verge.toml', MINIMAL_MANIFEST.length], ['web.wasm', MINIMAL_MODULE.length]]);
  assert.equal(result.id, bundleId(result.files));
  assert.deepEqual(readdirSync(path.join(parent, 'versions')), ['app'], 'no temp folder left beside it');
});

test('files may sit in folders, which may also be listed as entries', async () => {
  const manifest = MINIMAL_MANIFEST.replace('source = "web.wasm"', 'source = "target/release/web.wasm"');
  const bundle = rawBundle(rawEntry({ name: 'target/', type: '5' }), rawEntry({ name: 'target/release/web.wasm' }, MINIMAL_MODULE), rawEntry({ name: 'target/release/', type: '5' }), rawEntry({ name: 'verge.toml' }, manifest));
  const dest = path.join(freshParent(), 'app');
  const result = await unpackBundle(trickle(bundle).stream, dest);
  assert.deepEqual(result.files.map((f) => f.path), ['target/release/web.wasm', 'verge.toml']);
  assert.ok(existsSync(path.join(dest, 'target/release/web.wasm')));
});

test('an existing destDir is refused before the bundle is read', async () => {
  const parent = freshParent();
  mkdirSync(path.join(parent, 'app'));
  const input = trickle(rawBundle(...minimalEntries()));
  await assert.rejects(unpackBundle(input.stream, path.join(parent, 'app')), /already exists: a bundle is unpacked into a new folder/);
  assert.equal(input.given(), 0);
  assert.deepEqual(readdirSync(path.join(parent, 'app')), []);
});

test('entries that climb out of the folder are refused and nothing lands outside it', async () => {
  const escaped = `escaped-${randomBytes(4).toString('hex')}`;
  const names = [`../${escaped}`, `a/../../${escaped}`, `a/../../../${escaped}`, path.join(os.tmpdir(), escaped), `..\\${escaped}`];
  for (const name of names) {
    await refused(rawBundle(...minimalEntries(), rawEntry({ name }, 'owned')), 'BUNDLE_INVALID', /its path (has a "\.\." segment|is absolute|has a backslash)/);
  }
  await refused(rawBundle(rawEntry({ name: escaped, prefix: '..' }, 'owned'), ...minimalEntries()), 'BUNDLE_INVALID', /has a "\.\." segment/);
  for (const where of [os.tmpdir(), path.dirname(os.tmpdir())]) assert.equal(existsSync(path.join(where, escaped)), false, where);
});

test('names with a NUL, a control character, or nothing at all are refused', async () => {
  await refused(rawBundle(rawEntry({ name: 'x', nameField: Buffer.from('web.wasm\0/../../x') })), 'BUNDLE_INVALID', /name field has a NUL followed by more characters/);
  await refused(rawBundle(rawEntry({ name: 'web\u001b[2J.wasm' })), 'BUNDLE_INVALID', /NUL or control character/);
  await refused(rawBundle(rawEntry({ name: '' }, 'x')), 'BUNDLE_INVALID', /its path is empty/);
});

test('a symbolic link is refused before anything can be written through it', async () => {
  await refused(rawBundle(rawEntry({ name: 'etc', type: '2', linkname: '/etc' }), rawEntry({ name: 'etc/cron.d/x' }, 'owned'), ...minimalEntries()), 'BUNDLE_INVALID', /entry at byte 0 \("etc"\): is a symbolic link/);
  await refused(rawBundle(...minimalEntries(), rawEntry({ name: 'passwd', type: '1', linkname: '/etc/passwd' })), 'BUNDLE_INVALID', /\("passwd"\): is a hard link/);
  await refused(rawBundle(...minimalEntries(), rawEntry({ name: 'null', type: '3' })), 'BUNDLE_INVALID', /is a character device/);
  await refused(rawBundle(...minimalEntries(), rawEntry({ name: 'fifo', type: '6' })), 'BUNDLE_INVALID', /is a FIFO/);
});

test('pax and GNU extension headers are refused as unsupported', async () => {
  await refused(rawBundle(rawEntry({ name: 'PaxHeader/web.wasm', type: 'x' }, '30 path=../../../../etc/passwd\n'), ...minimalEntries()), 'BUNDLE_INVALID', /pax extended header: pax and GNU extension headers are not supported/);
  await refused(rawBundle(rawEntry({ name: '././@LongLink', type: 'L' }, '../../x\0'), ...minimalEntries()), 'BUNDLE_INVALID', /GNU long name/);
});

test('the same path twice, or twice but for letter case, or as both a file and a folder, is refused', async () => {
  const module = (name: string) => rawEntry({ name }, MINIMAL_MODULE);
  await refused(rawBundle(...minimalEntries(), module('web.wasm')), 'BUNDLE_INVALID', /entry "web\.wasm": it appears twice/);
  await refused(rawBundle(...minimalEntries(), module('WEB.wasm')), 'BUNDLE_INVALID', /entry "web\.wasm": it is the same path as "WEB\.wasm" on a case-insensitive file system|entry "WEB\.wasm": it is the same path as "web\.wasm"/);
  await refused(rawBundle(...minimalEntries(), module('web.wasm/inner')), 'BUNDLE_INVALID', /entry "web\.wasm\/inner": it needs "web\.wasm" as a folder, but that is a file/);
  await refused(rawBundle(module('lib/x'), module('lib'), ...minimalEntries()), 'BUNDLE_INVALID', /entry "lib": it is both a file and a folder/);
  await refused(rawBundle(rawEntry({ name: 'lib/', type: '5' }), rawEntry({ name: 'lib/', type: '5' }), ...minimalEntries()), 'BUNDLE_INVALID', /entry "lib": it appears twice/);
});

test('a bad header checksum is refused', async () => {
  await refused(rawBundle(rawEntry({ name: 'verge.toml', checksumError: -3 }, MINIMAL_MANIFEST)), 'BUNDLE_INVALID', /\("verge\.toml"\): the header checksum is wrong/);
});

test('lying sizes are refused: more declared than sent, and less declared than sent', async () => {
  await refused(gzipSync(Buffer.concat([...minimalEntries(), rawEntry({ name: 'big.bin', size: 4096 }, 'only this'), END_BLOCKS])), 'BUNDLE_INVALID', /truncated: entry "big\.bin" declares 4096 bytes but the stream ends after 1536/);
  await refused(rawBundle(rawEntry({ name: 'small.bin', size: 4 }, `four${'x'.repeat(600)}`), ...minimalEntries()), 'BUNDLE_INVALID', /entry at byte 1024 .*: the header checksum field is not an octal number/);
});

test('a truncated stream is refused, whether the gzip or the archive inside it ends early', async () => {
  const whole = rawBundle(...minimalEntries());
  await refused(whole.subarray(0, whole.length - 20), 'BUNDLE_INVALID', /the gzip stream is truncated/);
  await refused(gzipSync(Buffer.concat(minimalEntries())), 'BUNDLE_INVALID', /truncated: it ends without the two zero blocks/);
  await refused(gzipSync(rawEntry({ name: 'web.wasm' }, Buffer.alloc(1000)).subarray(0, 700)), 'BUNDLE_INVALID', /truncated: entry "web\.wasm" declares 1000 bytes but the stream ends after 188/);
});

test('something other than gzip, or garbage after the end of the archive, is refused', async () => {
  await refused(Buffer.concat([...minimalEntries(), END_BLOCKS]), 'BUNDLE_INVALID', /not a valid gzip stream .*: a bundle is a gzip-compressed ustar archive/);
  await refused(gzipSync(Buffer.concat([...minimalEntries(), END_BLOCKS, Buffer.from('#!/bin/sh\nrm -rf /\n')])), 'BUNDLE_INVALID', /non-zero bytes at byte \d+, after the end of the archive/);
});

test('a bundle without verge.toml at its root is refused', async () => {
  const module = rawEntry({ name: 'web.wasm' }, MINIMAL_MODULE);
  await refused(rawBundle(module), 'BUNDLE_INVALID', /there is no verge\.toml at its root/);
  await refused(rawBundle(module, rawEntry({ name: 'app/verge.toml' }, MINIMAL_MANIFEST)), 'BUNDLE_INVALID', /there is no verge\.toml at its root/);
  await refused(rawBundle(module, rawEntry({ name: 'VERGE.TOML' }, MINIMAL_MANIFEST)), 'BUNDLE_INVALID', /there is no verge\.toml at its root/);
});

test('a manifest that is not valid, or needs a module the bundle lacks or one outside it, is refused', async () => {
  const withManifest = (text: string) => rawBundle(rawEntry({ name: 'verge.toml' }, text), rawEntry({ name: 'web.wasm' }, MINIMAL_MODULE));
  await refused(withManifest('[application\n'), 'BUNDLE_INVALID', /its verge\.toml is not a valid manifest:\nverge\.toml:1:\d+: not valid TOML/);
  await refused(withManifest(MINIMAL_MANIFEST.replace('web.wasm', 'other.wasm')), 'BUNDLE_INVALID', /needs "other\.wasm" for component web, but the bundle has no such file/);
  await refused(withManifest(MINIMAL_MANIFEST.replace('"web.wasm"', '"../web.wasm"')), 'BUNDLE_INVALID', /component web: source "\.\.\/web\.wasm" is outside the app folder/);
  await refused(withManifest(MINIMAL_MANIFEST.replace('"web.wasm"', '"/srv/app/web.wasm"')), 'BUNDLE_INVALID', /component web: source "\/srv\/app\/web\.wasm" is absolute/);
});

test('an entry declared over the per-file cap is refused before its bytes are read', async () => {
  // 2 GiB declared and none sent: refused on the header, not by running out of bytes.
  const header = rawHeader({ name: 'huge.wasm', size: 2 * 1024 ** 3 });
  await refused(gzipSync(Buffer.concat([...minimalEntries(), header])), 'BUNDLE_TOO_LARGE', /entry "huge\.wasm" is 2147483648 bytes, over the per-file limit of 67108864 bytes/);
});

test('files adding up to more than the total cap are refused', async () => {
  const files = [1, 2, 3].map((i) => rawEntry({ name: `f${i}.bin` }, Buffer.alloc(600, i)));
  await refused(rawBundle(...minimalEntries(), ...files), 'BUNDLE_TOO_LARGE', /entry "f3\.bin" takes the files to \d+ bytes, over the limit of 1500 bytes uncompressed/, { maxTotalBytes: 1500 });
});

test('a tar bomb of more files and folders than the cap is refused at the first one over it', async () => {
  const empties = Array.from({ length: 1001 }, (_, i) => rawEntry({ name: `e/${i}` }));
  await refused(rawBundle(...minimalEntries(), ...empties), 'BUNDLE_TOO_LARGE', /more than 1000 files and folders \(at entry "e\/997"\)/);
});

test('deep paths whose folders pass the cap are refused, though there are few entries', async () => {
  // Each path is 255 bytes of one-letter folders: 127 folders per entry.
  const deep = ['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((c) => rawEntry({ prefix: c + '/a'.repeat(77), name: `${'a/'.repeat(49)}x` }));
  await refused(rawBundle(...minimalEntries(), ...deep), 'BUNDLE_TOO_LARGE', /more than 1000 files and folders \(at entry "i\/a\/a/);
});

test('an upload over the compressed cap is refused as it streams', async () => {
  const noise = rawEntry({ name: 'noise.bin' }, randomBytes(64 * 1024));
  const bundle = rawBundle(...minimalEntries(), noise);
  const input = trickle(bundle, 1024);
  await refused(input.stream, 'BUNDLE_TOO_LARGE', /the upload is over the limit of 10000 compressed bytes/, { maxCompressedBytes: 10_000 });
  assert.ok(input.given() < 40_000, `read ${input.given()} of ${bundle.length} bytes`);
});

/**
 * A gzip bomb: a GiB of zeros in about a MB. Gzip members may be concatenated, so it is built from
 * one compressed MiB of zeros, repeated, with a compressed header before each.
 */
function gzipBomb(entries: number): Buffer {
  const mib = 1024 * 1024;
  const zeros = gzipSync(Buffer.alloc(mib), { level: 9 });
  const members = [gzipSync(Buffer.concat(minimalEntries()))];
  for (let i = 0; i < entries; i++) members.push(gzipSync(rawHeader({ name: `zeros/${i}.bin`, size: mib })), zeros);
  return Buffer.concat([...members, gzipSync(END_BLOCKS)]);
}

test('a gzip bomb is refused after reading about the cap, not after inflating everything', async () => {
  const bomb = gzipBomb(1024);
  const input = trickle(bomb);
  await refused(input.stream, 'BUNDLE_TOO_LARGE', /entry "zeros\/7\.bin" takes the files to \d+ bytes, over the limit of 8388608 bytes uncompressed/, { maxFileBytes: 1024 * 1024, maxTotalBytes: 8 * 1024 * 1024 });
  // 8 MiB of the GiB inflated is about 8 KiB of the bomb; the rest is what the streams buffer.
  assert.ok(input.given() < bomb.length / 10, `read ${input.given()} of the bomb's ${bomb.length} bytes`);
});

test('a GiB of zero padding after the end of the archive is refused after one record of it', async () => {
  const zeros = gzipSync(Buffer.alloc(1024 * 1024), { level: 9 });
  const bomb = Buffer.concat([rawBundle(...minimalEntries()), ...Array.from({ length: 1024 }, () => zeros)]);
  const input = trickle(bomb);
  await refused(input.stream, 'BUNDLE_INVALID', /more than 10240 bytes of zero padding after the end of the archive/);
  assert.ok(input.given() < bomb.length / 10, `read ${input.given()} of the bomb's ${bomb.length} bytes`);
});
