import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadManifest } from '../manifest/load.js';
import { isVergeError } from '../errors.js';
import { newApp, targetName, validateAppName } from './new.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'verge-new-'));

test('ts-http scaffolds a manifest that loads, a typed handler, tsconfig, .gitignore, README and the wasi types', async () => {
  const dir = path.join(tmp(), 'hello-ts');
  const made = await newApp({ template: 'ts-http', name: 'hello-ts', dir });
  assert.deepEqual(made.files, ['.gitignore', 'README.md', 'src/index.ts', 'src/wasi.d.ts', 'tsconfig.json', 'verge.toml']);
  const app = loadManifest(dir);
  assert.equal(app.name, 'hello-ts');
  assert.deepEqual(app.routes.map(({ path, component }) => ({ path, component })), [{ path: '/...', component: 'hello-ts' }]);
  const c = app.components.get('hello-ts')!;
  assert.equal(c.source, path.join(dir, 'hello-ts.wasm'));
  assert.deepEqual(c.build, { kind: 'typescript', entry: path.join(dir, 'src/index.ts'), workdir: dir, watch: ['src/**/*.{ts,mts,js,mjs,json}'] });
  assert.match(readFileSync(path.join(dir, 'src/index.ts'), 'utf8'), /addEventListener\('fetch', \(event\) => event\.respondWith\(handle\(event\.request\)\)\)/);
  assert.equal(readFileSync(path.join(dir, 'src/wasi.d.ts'), 'utf8'), readFileSync(new URL('../../../sdk/typescript/wasi.d.ts', import.meta.url), 'utf8'));
  assert.match(readFileSync(path.join(dir, '.gitignore'), 'utf8'), /^\*\.wasm$/m);
  const tsconfig = JSON.parse(readFileSync(path.join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  assert.equal(tsconfig.compilerOptions.strict, true);
  assert.equal(tsconfig.compilerOptions.noEmit, true);
  assert.doesNotMatch(readFileSync(path.join(dir, 'README.md'), 'utf8'), /\{\{name\}\}/);
});

test('refuses a non-empty folder and writes nothing into it', async () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'keep.txt'), 'mine');
  await assert.rejects(newApp({ template: 'ts-http', name: 'x', dir }), (err) => isVergeError(err, 'SCAFFOLD_REFUSED') && /is not empty/.test(err.message));
  assert.equal(readFileSync(path.join(dir, 'keep.txt'), 'utf8'), 'mine');
});

test('accepts an existing empty folder', async () => {
  const dir = path.join(tmp(), 'empty');
  mkdirSync(dir);
  await newApp({ template: 'ts-http', name: 'ok', dir });
  assert.equal(loadManifest(dir).name, 'ok');
});

test('the name rule is the manifest rule', () => {
  const names = ['a', 'api', 'my-app_2', '9lives', 'A', 'has space', '-x', 'x-', '_x', 'a'.repeat(64), 'a'.repeat(65), 'café', ''];
  for (const name of names) {
    const dir = tmp();
    writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = ${JSON.stringify(name)}\n[[route]]\npath = "/..."\ncomponent = "c"\n[component.c]\nsource = "c.wasm"\n`);
    let manifestOk = true;
    try {
      loadManifest(dir);
    } catch (err) {
      if (!isVergeError(err, 'MANIFEST_INVALID')) throw err;
      manifestOk = false;
    }
    let newOk = true;
    try {
      validateAppName(name);
    } catch {
      newOk = false;
    }
    assert.equal(newOk, manifestOk, `name ${JSON.stringify(name)}`);
  }
});

test('template file names: .txt is dropped and gitignore becomes .gitignore', () => {
  assert.equal(targetName('src/index.ts.txt'), 'src/index.ts');
  assert.equal(targetName('gitignore.txt'), '.gitignore');
  assert.equal(targetName('sub/gitignore.txt'), 'sub/.gitignore');
  assert.equal(targetName('verge.toml.txt'), 'verge.toml');
});
