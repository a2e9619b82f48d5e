import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryPaths, entryPathProblem, foldPath, parentPaths } from './entry-path.js';

test('relative paths of ordinary names are accepted', () => {
  for (const ok of ['verge.toml', 'web.wasm', 'target/wasm32-wasip1/release/app.wasm', 'a b/ü.wasm', '..x/y..', '.hidden/file']) {
    assert.equal(entryPathProblem(ok), undefined, ok);
  }
});

test('each unsafe path is refused with the rule it breaks', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['/etc/passwd', /absolute/],
    ['C:/windows/x', /drive letter/],
    ['../outside', /".." segment/],
    ['a/../../outside', /".." segment/],
    ['a/..', /".." segment/],
    ['./a', /"\." segment/],
    ['a\\..\\x', /backslash/],
    ['a\u0000b', /NUL or control/],
    ['a\nb', /NUL or control/],
    ['a\u009bb', /NUL or control/],
    ['a//b', /empty segment/],
    ['a/', /empty segment/],
  ];
  for (const [name, rule] of cases) assert.match(entryPathProblem(name) ?? 'accepted', rule, JSON.stringify(name));
});

test('paths one file system would make one file fold to the same key', () => {
  assert.equal(foldPath('Web.WASM'), foldPath('web.wasm'));
  assert.equal(foldPath('caf\u0065\u0301'), foldPath('caf\u00e9'));
  assert.notEqual(foldPath('a.wasm'), foldPath('b.wasm'));
});

test('a path needs each of its leading folders', () => {
  assert.deepEqual(parentPaths('a/b/c.wasm'), ['a', 'a/b']);
  assert.deepEqual(parentPaths('c.wasm'), []);
});

test('the paths of a bundle count each folder once, listed or only needed, and name each clash', () => {
  const paths = new EntryPaths();
  assert.equal(paths.add('a/b/x.wasm', 'file'), undefined);
  assert.equal(paths.add('a/b', 'directory'), undefined, 'a folder a file needed may be listed once');
  assert.equal(paths.add('a/c.wasm', 'file'), undefined);
  assert.equal(paths.size, 4);
  assert.equal(paths.add('a/b', 'directory'), 'it appears twice');
  assert.equal(paths.add('A/C.wasm', 'file'), 'it is the same path as "a/c.wasm" on a case-insensitive file system');
  assert.equal(paths.add('a/c.wasm/x', 'file'), 'it needs "a/c.wasm" as a folder, but that is a file');
  assert.equal(paths.add('a', 'file'), 'it is both a file and a folder ("a")');
});
