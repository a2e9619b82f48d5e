import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** The CommonJS packages a process has loaded after importing `modules`, by name. */
function packagesLoadedBy(modules: string[]): string[] {
  const imports = modules.map((m) => `await import(${JSON.stringify(new URL(m, import.meta.url).href)});`).join(' ');
  const script = `import { createRequire } from 'node:module'; ${imports} console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const names = (JSON.parse(run.stdout) as string[]).map((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1]).filter((n) => n !== undefined);
  return [...new Set(names)];
}

test('starting a node loads neither pg, better-sqlite3 nor prom-client until an app uses PostgreSQL or a SQLite store, or an admin listener serves /metrics', () => {
  const loaded = packagesLoadedBy(['./start.js', '../capabilities/guest-imports.js', '../sandbox/scope.js']);
  assert.ok(loaded.includes('pino'), `expected the check to see CommonJS packages (pino), saw ${loaded.join(', ')}`);
  assert.ok(!loaded.includes('pg'), `pg was loaded: ${loaded.join(', ')}`);
  assert.ok(!loaded.includes('better-sqlite3'), `better-sqlite3 was loaded: ${loaded.join(', ')}`);
  assert.ok(!loaded.includes('prom-client'), `prom-client was loaded: ${loaded.join(', ')}`);
});

test('starting a node loads node:http2 only for a TLS listener', () => {
  const start = new URL('./start.js', import.meta.url).href;
  const script = `await import(${JSON.stringify(start)}); console.log(JSON.stringify(process.moduleLoadList));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const builtins = JSON.parse(run.stdout) as string[];
  assert.ok(builtins.includes('NativeModule http'), `expected the check to see node:http, saw ${builtins.length} built-ins`);
  assert.ok(!builtins.includes('NativeModule http2'), 'node:http2 was loaded');
});
