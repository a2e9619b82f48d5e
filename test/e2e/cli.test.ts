/** `verge check` and `verge build` as a user runs them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { runVerge } from '../support/verge-process.js';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'verge-cli-'));
}

test('verge check passes a valid app and reports each module', async () => {
  const dir = writeApp('ok', { web: { route: '/...', wasm: await wat(`(module ${FD_WRITE} (memory 2) ${respondWith('status: 204\n\n')} (func (export "_start") (call $respond)))`) } });
  const r = await runVerge(['check', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /ok {2}web: \d+ bytes, initial memory 128 KiB, limit 128 MiB/);
});

test('verge check exits 1 naming the file, the key and what was expected for a wrong manifest', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'verge.toml');
  writeFileSync(file, `[application]\nname = "x"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\nlimits = { memory_mb = 64, timeout_ms = "2s" }\n`);
  const r = await runVerge(['check', dir]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`${file}: component.web.limits.memory_mb: unknown key`), r.stderr);
  assert.ok(r.stderr.includes(`${file}: component.web.limits.timeout_ms: expected an integer from 1 to 3600000 (milliseconds), got the string "2s"`), r.stderr);
  assert.match(r.stderr, /MANIFEST_INVALID/);
});

test('verge check exits 1 for a module that imports what Verge does not provide or starts over the memory limit', async () => {
  const dir = writeApp('bad', {
    imports: { route: '/a/...', wasm: await wat(`(module (import "env" "host_fn" (func)) (memory 1) (func (export "_start")))`) },
    big: { route: '/b/...', limits: 'memory_mib = 1', wasm: await wat(`(module (memory 17) (func (export "_start")))`) },
    reactor: { route: '/c/...', wasm: await wat(`(module (memory 1) (func (export "handle")))`) },
  });
  const r = await runVerge(['check', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /component imports .*: imports function env\.host_fn, which is not provided by Verge/);
  assert.match(r.stderr, /component big .*initial memory is 17 pages .* over the component's memory limit of 16 pages/);
  assert.match(r.stderr, /component reactor .*exports no _start/);
});

test('verge up refuses to start when a module is missing and says how to build it', async () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = "x"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "out/web.wasm"\n[component.web.build]\ncommand = "true"\n`);
  const r = await runVerge(['up', dir, '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /component web .*out\/web\.wasm.*ENOENT.*verge build/);
});

test('verge build runs each build command in its folder and streams its output', async () => {
  const dir = tempDir();
  writeFileSync(
    path.join(dir, 'verge.toml'),
    `[application]\nname = "x"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\n[component.web.build]\ncommand = "echo building in $(basename $PWD) && touch built.txt"\nworkdir = "sub"\n`,
  );
  const { mkdirSync, existsSync } = await import('node:fs');
  mkdirSync(path.join(dir, 'sub'));
  const r = await runVerge(['build', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /building in sub/);
  assert.ok(existsSync(path.join(dir, 'sub', 'built.txt')));
});

test('verge build fails clearly when a build command fails', async () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = "x"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\n[component.web.build]\ncommand = "exit 7"\n`);
  const r = await runVerge(['build', dir]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /component web: `exit 7` \(in .*\) exited with code 7/);
  assert.match(r.stderr, /BUILD_FAILED/);
});

test('verge check names a required variable that has no value, and passes once the environment sets it', async () => {
  const dir = writeApp(
    'vars',
    { web: { route: '/...', extra: 'variables = ["api_key"]', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('status: 204\n\n')} (func (export "_start") (call $respond)))`) } },
    '[variables]\napi_key = { required = true, secret = true }',
  );
  const missing = await runVerge(['check', dir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /required variables have no value: api_key \(set VERGE_VAR_API_KEY\)/);
  assert.match(missing.stderr, /VARIABLE_MISSING/);
  const envFile = path.join(dir, 'test.env');
  writeFileSync(envFile, 'VERGE_VAR_API_KEY=from-the-env-file\n');
  const ok = await runVerge(['check', dir, '--env-file', envFile]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(!ok.stderr.includes('from-the-env-file'), 'the value is never printed');
});

test('verge check refuses grants of stores, variables and hosts the manifest does not define, naming each key', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'verge.toml');
  writeFileSync(
    file,
    [
      '[application]',
      'name = "x"',
      '[[route]]',
      'path = "/..."',
      'component = "web"',
      '[component.web]',
      'source = "web.wasm"',
      'key_value_stores = ["default", "sessions"]',
      'variables = ["token"]',
      'allowed_outbound_hosts = ["https://api.example.com", "ftp://files.example.com", "https://x.example.com/path"]',
      '[key_value_stores.cache]',
      'backend = "redis-cluster"',
    ].join('\n'),
  );
  const r = await runVerge(['check', dir]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`${file}: component.web.key_value_stores[1]: no store "sessions"`), r.stderr);
  assert.ok(r.stderr.includes(`${file}: component.web.variables[0]: no variable "token" is declared in [variables]`), r.stderr);
  assert.ok(r.stderr.includes(`${file}: component.web.allowed_outbound_hosts[1]: expected`), r.stderr);
  assert.ok(r.stderr.includes(`${file}: component.web.allowed_outbound_hosts[2]: expected`), r.stderr);
  assert.ok(r.stderr.includes(`${file}: key_value_stores.cache.backend: expected one of "sqlite", "memory"`), r.stderr);
});
