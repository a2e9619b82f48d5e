/**
 * Component dependencies end to end (docs/composition.md): real components built by ComponentizeJS
 * (test/fixtures/components/dependencies) — a wasi:http handler importing acme:auth/verify and
 * acme:db/data, and the components that export them — linked by the real CLI. A linked call
 * carries records and results both ways; a dependency gets no capability its entry does not
 * inherit; it is fresh or reused exactly as its parent is; and a dependency whose export does
 * not match the import, or is missing, is refused at load with both names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dependencyFixture, type DependencyFixture } from '../support/dependency-components.js';
import { runVerge, startVerge, upWithin, type VergeProcess } from '../support/verge-process.js';

async function json(url: string): Promise<{ status: number; value: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, value: (await res.json()) as Record<string, unknown> };
}

/** An app folder: `files` are written (fixtures by name), verge.toml is `toml`. */
function writeApp(files: Record<string, Uint8Array>, toml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-deps-'));
  for (const [name, bytes] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), bytes);
  }
  writeFileSync(path.join(dir, 'verge.toml'), toml);
  return dir;
}

const API_ONLY = (dependencies: string) => `[application]
name = "refused"

[[route]]
path = "/..."
component = "api"

[component.api]
source = "api.wasm"

[component.api.dependencies]
${dependencies}
`;

describe('component dependencies', () => {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deps-cache-'));
  const env = { VERGE_CACHE_DIR: cacheDir };
  const built = {} as Record<DependencyFixture, Uint8Array>;
  let dir = '';
  let node: VergeProcess;

  before(async () => {
    const names: DependencyFixture[] = ['api', 'auth', 'db', 'auth-mismatch'];
    const bytes = await Promise.all(names.map((n) => dependencyFixture(n)));
    names.forEach((n, i) => (built[n] = bytes[i]!));
    dir = writeApp(
      { 'api.wasm': built.api, 'auth.wasm': built.auth, 'deps/db.wasm': built.db },
      `[application]
name = "deps"

[[route]]
path = "/plain/..."
component = "plain"

[[route]]
path = "/granted/..."
component = "granted"

[[route]]
path = "/reused/..."
component = "reused"

# Its dependencies inherit nothing: db cannot open the store plain may use.
[component.plain]
source = "api.wasm"
key_value_stores = ["default"]

[component.plain.dependencies]
"acme:auth/verify" = { component = "auth" }
"acme:db/data" = { path = "deps/db.wasm" }

[component.granted]
source = "api.wasm"
key_value_stores = ["default"]

[component.granted.dependencies]
"acme:auth" = { component = "auth" }
"acme:db/data@0.1.0" = { path = "deps/db.wasm", inherit = ["key_value_stores"] }

[component.reused]
source = "api.wasm"
instance_reuse = 3
key_value_stores = ["default"]

[component.reused.dependencies]
"acme:auth/verify" = { component = "auth" }
"acme:db/data" = { path = "deps/db.wasm", inherit = ["key_value_stores"] }

# Only a dependency: it serves no route.
[component.auth]
source = "auth.wasm"
`,
    );
    // One worker, so consecutive requests meet the same instances.
    node = await startVerge(dir, ['--workers', '1'], { env, readyMs: 120_000 });
  });

  after(async () => {
    await node?.stop();
  });

  test('a handler calls its dependencies: a record comes back from one, and an error result arrives as the error', async () => {
    const ok = await json(`${node.url}/granted/profile?token=valid-ada`);
    assert.equal(ok.status, 200, JSON.stringify(ok.value));
    assert.deepEqual(ok.value.claims, { subject: 'ada', scopes: ['profile:read', 'profile:write'], served: 1 });
    assert.equal(ok.value.profile, null);
    const refused = await json(`${node.url}/granted/profile?token=forged`);
    assert.equal(refused.status, 401);
    assert.equal(refused.value.error, 'not a valid token: "forged"');
  });

  test('a dependency gets no capability its entry does not inherit, and the refusal names the dependency', async () => {
    const denied = await json(`${node.url}/plain/put?token=valid-bob&value=secret`);
    assert.equal(denied.status, 500);
    assert.equal(denied.value.error, 'access-denied');
    const line = node.logs().find((r) => typeof r.line === 'string' && r.line.includes('is not granted'));
    assert.ok(line, 'the refusal is logged');
    assert.match(String(line.line), /store "default" is not granted to component deps\/db\.wasm \(acme:db\/data, a dependency of plain\) \(key_value_stores = \[\]\)/);
    assert.equal(line.component, 'plain');

    const stored = await json(`${node.url}/granted/put?token=valid-bob&value=hello`);
    assert.equal(stored.status, 200, JSON.stringify(stored.value));
    assert.equal(stored.value.profile, 'hello');
    assert.equal((await json(`${node.url}/granted/profile?token=valid-bob`)).value.profile, 'hello');
    // The store is there; plain's dependency still may not read it.
    assert.equal((await json(`${node.url}/plain/profile?token=valid-bob`)).value.error, 'access-denied');
  });

  test('each request gets fresh instances of a component and its dependencies, or both are reused as instance_reuse says', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await json(`${node.url}/granted/profile?token=valid-ada`);
      assert.deepEqual([r.value.served, (r.value.claims as { served: number }).served], [1, 1]);
    }
    const counts: Array<[unknown, unknown]> = [];
    for (let i = 0; i < 7; i++) {
      const r = await json(`${node.url}/reused/profile?token=valid-ada`);
      counts.push([r.value.served, (r.value.claims as { served: number }).served]);
    }
    assert.deepEqual(counts, [[1, 1], [2, 2], [3, 3], [1, 1], [2, 2], [3, 3], [1, 1]]);
  });

  test('verge check links the dependencies of each component and says so', async () => {
    const r = await runVerge(['check', dir], { env });
    const out = r.stdout + r.stderr;
    assert.equal(r.code, 0, out);
    assert.match(out, /ok {2}auth \(acme:auth\/verify, a dependency of plain\): linked/);
    assert.match(out, /ok {2}deps\/db\.wasm \(acme:db\/data@0\.1\.0, a dependency of granted\): linked/);
    assert.doesNotMatch(out, /ok {2}auth:/, 'auth is checked as a dependency, not as a handler');
  });

  test('a path dependency is held to the signatures the node requires, like a component source', async () => {
    const keys = mkdtempSync(path.join(os.tmpdir(), 'verge-deps-keys-'));
    assert.equal((await runVerge(['keygen', '-o', 'ops'], { cwd: keys })).code, 0);
    const key = path.join(keys, 'ops.key');
    const app = writeApp({ 'api.wasm': built.api, 'auth.wasm': built.auth, 'deps/db.wasm': built.db }, API_ONLY('"acme:auth/verify" = { path = "auth.wasm" }\n"acme:db/data" = { path = "deps/db.wasm" }'));
    for (const file of ['api.wasm', 'auth.wasm']) assert.equal((await runVerge(['sign', path.join(app, file), '--key', key])).code, 0);
    assert.equal((await runVerge(['sign', path.join(app, 'verge.toml'), '--key', key, '--detached', path.join(app, 'verge.toml.sig')])).code, 0);
    const trust = ['--trust-key', path.join(keys, 'ops.pub')];
    const unsigned = await upWithin([app, '--listen', '127.0.0.1:0', ...trust], 120_000);
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /dependency deps\/db\.wasm[\s\S]*SIGNATURE_MISSING/);
    assert.equal((await runVerge(['sign', path.join(app, 'deps/db.wasm'), '--key', key])).code, 0);
    const signed = await startVerge(app, ['--workers', '1', ...trust], { env, readyMs: 120_000 });
    try {
      assert.equal((await json(`${signed.url}/profile?token=valid-ada`)).status, 500, 'served: its db has no store granted');
    } finally {
      await signed.stop();
    }
  });

  test('a dependency whose export differs from the import is refused at load, naming both components, the function and the difference', async () => {
    const app = writeApp({ 'api.wasm': built.api, 'auth-mismatch.wasm': built['auth-mismatch'], 'db.wasm': built.db }, API_ONLY('"acme:auth/verify" = { path = "auth-mismatch.wasm" }\n"acme:db/data" = { path = "db.wasm" }'));
    const check = await runVerge(['check', app], { env });
    assert.equal(check.code, 1);
    const out = check.stdout + check.stderr;
    assert.match(out, /component api \(.*api\.wasm\): imports acme:auth\/verify@0\.1\.0 from auth-mismatch\.wasm \(.*auth-mismatch\.wasm\), whose export acme:auth\/verify@0\.1\.0 differs:/);
    assert.match(out, /function verify: parameter token: string in api's import, u32 in auth-mismatch\.wasm's export/);
    // verge up refuses it the same way, before serving anything.
    const up = await upWithin([app, '--listen', '127.0.0.1:0'], 120_000);
    assert.equal(up.killed, false);
    assert.equal(up.code, 1);
    assert.match(up.stderr, /function verify: parameter token: string in api's import, u32 in auth-mismatch\.wasm's export/);
  });

  test('a dependency that does not export the interface is refused at load, with what it does export', async () => {
    const app = writeApp({ 'api.wasm': built.api, 'db.wasm': built.db }, API_ONLY('"acme:auth/verify" = { path = "db.wasm" }\n"acme:db/data" = { path = "db.wasm" }'));
    const check = await runVerge(['check', app], { env });
    assert.equal(check.code, 1);
    assert.match(check.stdout + check.stderr, /imports acme:auth\/verify@0\.1\.0 from db\.wasm \(\[component\.api\.dependencies\] "acme:auth\/verify"\), but db\.wasm does not export acme:auth\/verify@0\.1\.0 \(it exports acme:db\/data@0\.1\.0\)/);
  });

  test('an import no dependency satisfies, and a dependency key that matches no import, are refused at load', async () => {
    const unsatisfied = writeApp({ 'api.wasm': built.api, 'db.wasm': built.db }, API_ONLY('"acme:db/data" = { path = "db.wasm" }'));
    const a = await runVerge(['check', unsatisfied], { env });
    assert.equal(a.code, 1);
    assert.match(a.stdout + a.stderr, /imports acme:auth\/verify@0\.1\.0, an interface Verge does not provide .*; a dependency that exports it can satisfy it/);
    const stale = writeApp({ 'api.wasm': built.api, 'auth.wasm': built.auth, 'db.wasm': built.db }, API_ONLY('"acme:auth/verify" = { path = "auth.wasm" }\n"acme:db/data" = { path = "db.wasm" }\n"acme:cache/get" = { path = "db.wasm" }'));
    const b = await runVerge(['check', stale], { env });
    assert.equal(b.code, 1);
    assert.match(b.stdout + b.stderr, /names "acme:cache\/get", but the component imports nothing it matches \(it imports acme:auth\/verify@0\.1\.0, acme:db\/data@0\.1\.0\)/);
  });
});
