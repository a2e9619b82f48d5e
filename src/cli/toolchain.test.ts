import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureJsToolchain, JS_TOOLCHAIN_SOURCE, toolchainCacheDir, toolchainKey } from './toolchain.js';

// A stand-in toolchain: the four pinned packages as local file: dependencies, so installing it is
// a real `npm install` that needs no registry and takes about a second.
let sourceDir = '';

before(() => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verge-toolchain-'));
  const deps: Record<string, string> = {};
  const pkgs: Array<[string, string, Record<string, string>]> = [
    ['@bytecodealliance/componentize-js', '0.23.0', {}],
    ['@bytecodealliance/jco', '1.35.0', { jco: 'src/jco.js' }],
    ['esbuild', '0.0.1', {}],
    ['typescript', '5.9.3', { tsc: 'bin/tsc' }],
  ];
  for (const [name, version, bin] of pkgs) {
    const dir = path.join(root, 'pkgs', name.replace('/', '+'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version, bin }));
    deps[name] = `file:${dir}`;
  }
  sourceDir = path.join(root, 'source');
  mkdirSync(sourceDir);
  writeFileSync(path.join(sourceDir, 'package.json'), JSON.stringify({ name: 'fake-toolchain', private: true, dependencies: deps }));
  writeFileSync(path.join(sourceDir, 'runner.mjs'), '// runner\n');
  execFileSync('npm', ['install', '--package-lock-only', '--no-audit', '--no-fund'], { cwd: sourceDir, stdio: 'ignore' });
});

test('the cache folder is named by the hash of package.json and its lock', () => {
  assert.match(toolchainKey(sourceDir), /^js-[0-9a-f]{12}$/);
  assert.notEqual(toolchainKey(sourceDir), toolchainKey(JS_TOOLCHAIN_SOURCE));
  assert.equal(toolchainKey(JS_TOOLCHAIN_SOURCE), toolchainKey(JS_TOOLCHAIN_SOURCE));
});

test('the shipped toolchain pins componentize-js 0.23.0, jco 1.35.0 and the shims componentize needs', () => {
  const pkg = JSON.parse(readFileSync(path.join(JS_TOOLCHAIN_SOURCE, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    overrides: Record<string, string>;
  };
  assert.equal(pkg.dependencies['@bytecodealliance/componentize-js'], '0.23.0');
  assert.equal(pkg.dependencies['@bytecodealliance/jco'], '1.35.0');
  assert.match(pkg.dependencies.typescript ?? '', /^5\.9\./);
  assert.ok(pkg.dependencies.esbuild);
  assert.deepEqual(pkg.overrides, { '@bytecodealliance/preview2-shim': '0.26.0', '@bytecodealliance/jco-node-fs': '0.2.0' });
  assert.ok(existsSync(path.join(JS_TOOLCHAIN_SOURCE, 'package-lock.json')));
});

test('the cache lives in VERGE_TOOLCHAIN_DIR, else under the home folder', () => {
  assert.equal(toolchainCacheDir({ VERGE_TOOLCHAIN_DIR: '/x/y' }), '/x/y');
  assert.equal(toolchainCacheDir({}), path.join(os.homedir(), '.cache/verge/toolchains'));
});

test('two installers racing both end up with one good install; the next call installs nothing', async () => {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'verge-toolchain-cache-'));
  const logs: string[][] = [[], [], []];
  const [a, b] = await Promise.all([
    ensureJsToolchain((l) => logs[0]!.push(l), { sourceDir, cacheDir }),
    ensureJsToolchain((l) => logs[1]!.push(l), { sourceDir, cacheDir }),
  ]);
  assert.equal(a.dir, b.dir);
  assert.equal(a.dir, path.join(cacheDir, toolchainKey(sourceDir)));
  assert.deepEqual(readdirSync(cacheDir), [path.basename(a.dir)], 'the loser discarded its copy');
  assert.match(logs[0]![0]!, /^Installing the JS component toolchain \(componentize-js .+, jco .+\) into .+, once/);
  assert.match(logs[1]![0]!, /^Installing/, 'both installed: the race happened');
  assert.equal(a.jcoCli, path.join(a.dir, 'node_modules/@bytecodealliance/jco/src/jco.js'));
  assert.ok(existsSync(a.jcoCli.replace(/src\/jco\.js$/, 'package.json')));
  assert.ok(existsSync(a.runner));

  const again = await ensureJsToolchain((l) => logs[2]!.push(l), { sourceDir, cacheDir });
  assert.equal(again.dir, a.dir);
  assert.deepEqual(logs[2], [], 'no install the second time');
});
