import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globBase, globToRegExp } from './glob.js';

test('** matches any number of folders, * stays within one', () => {
  const re = globToRegExp('src/**/*.rs');
  assert.ok(re.test('src/main.rs'));
  assert.ok(re.test('src/a/b/lib.rs'));
  assert.ok(!re.test('src/main.rsx'));
  assert.ok(!re.test('other/src/main.rs'));
  assert.ok(globToRegExp('*.ts').test('index.ts'));
  assert.ok(!globToRegExp('*.ts').test('a/index.ts'));
});

test('{a,b} alternatives and ? match as in shells; other characters are literal', () => {
  const re = globToRegExp('**/*.{ts,json}');
  assert.ok(re.test('a.ts') && re.test('x/y.json'));
  assert.ok(!re.test('a.js'));
  assert.ok(globToRegExp('file?.txt').test('file1.txt'));
  assert.ok(!globToRegExp('a+b(c).txt').test('aab(c).txt'));
  assert.ok(globToRegExp('a+b(c).txt').test('a+b(c).txt'));
});

test('the base of a glob is its leading folders without wildcards', () => {
  assert.equal(globBase('src/**/*.rs'), 'src');
  assert.equal(globBase('assembly/lib/*.ts'), 'assembly/lib');
  assert.equal(globBase('**/*.ts'), '.');
  assert.equal(globBase('Cargo.toml'), '.');
});
