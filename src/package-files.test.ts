import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BUNDLED, BUNDLE_DIR, THREAD_ENTRIES, bundledThreadEntry, packagePath, packageVersion, threadEntry, type ThreadEntry } from './package-files.js';

test('the compiled tree finds the package root and starts its threads from dist/src/', () => {
  assert.equal(BUNDLED, false);
  const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { name: string; version: string };
  assert.equal(pkg.name, 'verge-edge');
  assert.equal(packageVersion(), pkg.version);
  for (const name of Object.keys(THREAD_ENTRIES) as ThreadEntry[]) {
    const file = fileURLToPath(threadEntry(name));
    assert.equal(file, packagePath(`dist/src/${THREAD_ENTRIES[name]}.js`));
    assert.ok(existsSync(file), `${name}: ${file} is missing`);
  }
});

test('the build wrote a bundle entry and the code for every thread, where the bundled code will look for them', () => {
  for (const name of Object.keys(THREAD_ENTRIES) as ThreadEntry[]) {
    for (const file of [bundledThreadEntry(name), `${BUNDLE_DIR}/${name}.cjs`]) assert.ok(existsSync(packagePath(file)), `${file} is missing`);
  }
});
