import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { bundleId, comparePaths } from './id.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test('the id is the SHA-256 of the listing lines sorted by path', () => {
  const files = [
    { path: 'web.wasm', size: 3, sha256: sha('abc') },
    { path: 'verge.toml', size: 2, sha256: sha('xy') },
  ];
  const expected = sha(`${sha('xy')} 2 verge.toml\n${sha('abc')} 3 web.wasm\n`);
  assert.equal(bundleId(files), expected);
  assert.equal(bundleId([...files].reverse()), expected);
});

test('the id changes with any byte, size or path of any file', () => {
  const base = [{ path: 'verge.toml', size: 1, sha256: sha('a') }];
  const id = bundleId(base);
  assert.notEqual(bundleId([{ ...base[0]!, sha256: sha('b') }]), id);
  assert.notEqual(bundleId([{ ...base[0]!, size: 2 }]), id);
  assert.notEqual(bundleId([{ ...base[0]!, path: 'a/verge.toml' }]), id);
  assert.notEqual(bundleId([...base, { path: 'x', size: 0, sha256: sha('') }]), id);
});

test('paths sort in UTF-8 byte order, not UTF-16 order', () => {
  // U+FF5E sorts after U+1F600 in UTF-16 (0xFF5E > 0xD83D) but before it in UTF-8 bytes.
  assert.ok(comparePaths('\uFF5E', '\u{1F600}') < 0);
  assert.ok(comparePaths('B', 'a') < 0);
  assert.ok(comparePaths('a/b', 'a.b') > 0);
});
