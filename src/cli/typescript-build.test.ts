import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTsconfig, WASI_TYPES, WIT_DIR, writeWorld } from './typescript-build.js';
import { VergeError } from '../errors.js';
import type { ComponentConfig } from '../manifest/config.js';

test('finds the nearest tsconfig.json between the entry and the project folder', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verge-tsc-'));
  const project = path.join(root, 'app');
  mkdirSync(path.join(project, 'src/handlers'), { recursive: true });
  const entry = path.join(project, 'src/handlers/index.ts');
  assert.equal(findTsconfig(entry, project), undefined);
  writeFileSync(path.join(project, 'tsconfig.json'), '{}');
  assert.equal(findTsconfig(entry, project), path.join(project, 'tsconfig.json'));
  writeFileSync(path.join(project, 'src/tsconfig.json'), '{}');
  assert.equal(findTsconfig(entry, project), path.join(project, 'src/tsconfig.json'));
});

test('never uses a tsconfig.json above the project folder (a parent repo has its own)', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verge-tsc-'));
  writeFileSync(path.join(root, 'tsconfig.json'), '{}');
  const project = path.join(root, 'app');
  mkdirSync(path.join(project, 'src'), { recursive: true });
  assert.equal(findTsconfig(path.join(project, 'src/index.ts'), project), undefined);
});

test('ships the WIT world and the wasi types it builds against', () => {
  assert.ok(existsSync(path.join(WIT_DIR, 'world.wit')));
  for (const pkg of ['http', 'io', 'clocks', 'random', 'cli', 'filesystem', 'sockets', 'keyvalue', 'config', 'logging']) {
    assert.ok(existsSync(path.join(WIT_DIR, 'deps', pkg)), `wit/deps/${pkg}`);
  }
  assert.ok(existsSync(WASI_TYPES));
});

describe('writeWorld', () => {
  const component = { name: 'api' } as ComponentConfig;

  test('lists only wasi:http/proxy when the bundle imports nothing beyond it', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-world-'));
    const world = writeWorld(component, dir, ['wasi:http/types@0.2.10']);
    assert.deepEqual(world.extra, []);
    const text = readFileSync(path.join(dir, 'world.wit'), 'utf8');
    assert.match(text, /include wasi:http\/proxy@0\.2\.10;/);
    assert.doesNotMatch(text, /import /);
    assert.ok(existsSync(path.join(dir, 'deps', 'http', 'package.wit')), 'the deps come along');
  });

  test('adds exactly the extra interfaces the bundle imports', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-world-'));
    const world = writeWorld(component, dir, ['wasi:keyvalue/store@0.2.0-draft2', 'wasi:logging/logging@0.1.0-draft', 'wasi:io/streams@0.2.10']);
    assert.deepEqual(world.extra, ['wasi:keyvalue/store@0.2.0-draft2', 'wasi:logging/logging@0.1.0-draft']);
    const imports = readFileSync(path.join(dir, 'world.wit'), 'utf8').match(/import [^;]+;/g);
    assert.deepEqual(imports, ['import wasi:keyvalue/store@0.2.0-draft2;', 'import wasi:logging/logging@0.1.0-draft;']);
  });

  test('fails the build for an interface Verge does not provide, naming it and what is available', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-world-'));
    assert.throws(
      () => writeWorld(component, dir, ['wasi:blobstore/container@0.2.0-draft']),
      (e: unknown) =>
        e instanceof VergeError && e.code === 'BUILD_FAILED' && /component api: imports wasi:blobstore\/container@0\.2\.0-draft, which Verge does not provide/.test(e.message) && /wasi:config\/store@0\.2\.0-draft/.test(e.message),
    );
  });
});
