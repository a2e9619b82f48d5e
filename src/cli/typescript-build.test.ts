import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findTsconfig, WASI_TYPES, WIT_DIR } from './typescript-build.js';

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
