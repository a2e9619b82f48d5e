import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from './load.js';
import { manifestProblems } from './fixtures.js';
import { tomlKey } from './fields.js';
import { dependencyMatches, isDependencyOnly, parseDependencyKey } from './dependencies.js';

const FILE = '/srv/shop/verge.toml';

/** An app whose api component (routed) has `deps` as its dependencies table; auth is another component. */
function manifest(deps: string, opts: { api?: string; auth?: string; extra?: string } = {}): string {
  return [
    '[application]',
    'name = "shop"',
    '',
    '[variables]',
    'token_secret = { default = "s" }',
    '',
    '[[route]]',
    'path = "/api/..."',
    'component = "api"',
    '',
    '[component.api]',
    'source = "api.wasm"',
    'key_value_stores = ["default"]',
    'allowed_outbound_hosts = ["https://auth.example.com"]',
    'variables = ["token_secret"]',
    opts.api ?? '',
    '',
    '[component.api.dependencies]',
    deps,
    '',
    '[component.auth]',
    'source = "build/auth.wasm"',
    opts.auth ?? '',
    '',
    opts.extra ?? '',
  ].join('\n');
}

const problems = (text: string): string[] => manifestProblems(text, FILE).split('\n');

function assertProblem(text: string, keyPath: string, ...fragments: string[]): void {
  const all = problems(text);
  const line = all.find((l) => l.startsWith(`${FILE}: ${keyPath}: `));
  assert.ok(line !== undefined, `expected a problem at ${keyPath} in:\n${all.join('\n')}`);
  for (const f of fragments) assert.ok(line.includes(f), `expected ${JSON.stringify(f)} in: ${line}`);
}

describe('[component.NAME.dependencies]', () => {
  test('reads an interface satisfied by another component and a package satisfied by a file, granting them nothing', () => {
    const app = parseManifest(manifest('"acme:auth/verify" = { component = "auth" }\n"acme:db@0.2.0" = { path = "deps/db.wasm" }'), FILE);
    const [auth, db] = app.components.get('api')!.dependencies;
    assert.deepEqual(auth!.target, { package: 'acme:auth', interface: 'verify', version: undefined });
    assert.deepEqual(auth!.from, { component: 'auth' });
    assert.equal(auth!.source, '/srv/shop/build/auth.wasm');
    assert.deepEqual(db!.target, { package: 'acme:db', interface: undefined, version: '0.2.0' });
    assert.equal(db!.source, '/srv/shop/deps/db.wasm');
    for (const d of [auth!, db!]) {
      assert.deepEqual(d.inherit, []);
      assert.deepEqual(d.grants.keyValueStores, []);
      assert.deepEqual(d.grants.allowedOutboundHosts, []);
      assert.equal(d.grants.outboundPolicy, undefined);
      assert.deepEqual(d.grants.variables, []);
      assert.equal(d.grants.files, undefined);
    }
  });

  test('gives a dependency exactly the parent grants its inherit list names', () => {
    const app = parseManifest(manifest('"acme:auth/verify" = { component = "auth", inherit = ["key_value_stores", "variables"] }'), FILE);
    const api = app.components.get('api')!;
    const d = api.dependencies[0]!;
    assert.deepEqual(d.grants.keyValueStores, ['default']);
    assert.deepEqual(d.grants.variables, ['token_secret']);
    assert.deepEqual(d.grants.allowedOutboundHosts, []);
    assert.equal(d.grants.outboundPolicy, undefined);
    const outbound = parseManifest(manifest('"acme:auth/verify" = { component = "auth", inherit = ["allowed_outbound_hosts"] }'), FILE).components.get('api')!.dependencies[0]!;
    assert.deepEqual(outbound.grants.allowedOutboundHosts, ['https://auth.example.com']);
    assert.ok(outbound.grants.outboundPolicy);
    assert.deepEqual(outbound.grants.keyValueStores, []);
  });

  test("gives a dependency that inherits files its parent's mounts", () => {
    const text = manifest('"acme:auth/verify" = { component = "auth", inherit = ["files"] }', { api: 'files = [{ source = "keys/", destination = "/keys" }]' });
    const api = parseManifest(text, FILE).components.get('api')!;
    assert.ok(api.files);
    assert.equal(api.dependencies[0]!.grants.files, api.files);
    assert.deepEqual(api.dependencies[0]!.grants.variables, []);
    assertProblem(manifest('"acme:auth/verify" = { component = "auth", inherit = ["files"] }'), 'component.api.dependencies."acme:auth/verify".inherit[0]', 'component api grants no files');
  });

  test('refuses an inherit name that is not a grant, listing those that are', () => {
    assertProblem(manifest('"acme:auth/verify" = { component = "auth", inherit = ["kv"] }'), 'component.api.dependencies."acme:auth/verify".inherit[0]', '"key_value_stores", "allowed_outbound_hosts", "variables", "files"', 'got "kv"');
  });

  test('refuses inheriting a grant the parent does not have', () => {
    const text = manifest('"acme:auth/verify" = { component = "auth", inherit = ["variables"] }').replace('variables = ["token_secret"]', '');
    assertProblem(text, 'component.api.dependencies."acme:auth/verify".inherit[0]', 'component api grants no variables');
  });

  test('refuses a key that is neither an interface nor a package name', () => {
    for (const key of ['verify', 'acme:auth/verify/extra', 'Acme:auth', 'acme:auth@1.0', 'acme:auth/verify@latest']) {
      assertProblem(manifest(`"${key}" = { component = "auth" }`), `component.api.dependencies.${tomlKey(key)}`, 'the dependency name is not valid', '"acme:auth/verify"');
    }
  });

  test('refuses an entry naming both or neither of component and path, or a component that does not exist or is itself', () => {
    assertProblem(manifest('"acme:auth/verify" = { component = "auth", path = "a.wasm" }'), 'component.api.dependencies."acme:auth/verify"', 'has both component and path');
    assertProblem(manifest('"acme:auth/verify" = { inherit = [] }'), 'component.api.dependencies."acme:auth/verify"', 'is missing component or path');
    assertProblem(manifest('"acme:auth/verify" = { component = "nope" }'), 'component.api.dependencies."acme:auth/verify".component', 'no [component.nope] is defined');
    assertProblem(manifest('"acme:auth/verify" = { component = "api" }'), 'component.api.dependencies."acme:auth/verify".component', 'names api itself');
    assertProblem(manifest('"acme:auth/verify" = "auth"'), 'component.api.dependencies."acme:auth/verify"', 'expected a table');
    assertProblem(manifest('"acme:auth/verify" = { component = "auth", version = "1" }'), 'component.api.dependencies."acme:auth/verify".version', 'unknown key', 'component, path, export, inherit');
  });

  test('takes export only on an interface key', () => {
    const app = parseManifest(manifest('"acme:auth/verify" = { component = "auth", export = "acme:auth/verify2@0.1.0" }'), FILE);
    assert.equal(app.components.get('api')!.dependencies[0]!.export, 'acme:auth/verify2@0.1.0');
    assertProblem(manifest('"acme:auth" = { component = "auth", export = "x" }'), 'component.api.dependencies."acme:auth".export', 'names a whole package');
  });

  test('refuses two keys that could satisfy the same import, naming both', () => {
    assertProblem(manifest('"acme:auth" = { component = "auth" }\n"acme:auth/verify" = { path = "v.wasm" }'), 'component.api.dependencies."acme:auth/verify"', 'covers imports that "acme:auth" also covers');
    assertProblem(manifest('"acme:auth/verify" = { component = "auth" }\n"acme:auth/verify@0.1.0" = { path = "v.wasm" }'), 'component.api.dependencies."acme:auth/verify@0.1.0"', '"acme:auth/verify"');
    parseManifest(manifest('"acme:auth/verify@0.1.0" = { component = "auth" }\n"acme:auth/verify@0.2.0" = { path = "v.wasm" }\n"acme:auth/other" = { path = "o.wasm" }'), FILE);
  });

  test('refuses settings on a component that serves no route and is only a dependency, where they would not apply', () => {
    const deps = '"acme:auth/verify" = { component = "auth" }';
    assertProblem(manifest(deps, { auth: 'key_value_stores = ["default"]' }), 'component.auth.key_value_stores', 'serves no route and is only a dependency (of api)', 'inherit');
    assertProblem(manifest(deps, { auth: 'instance_reuse = 5' }), 'component.auth.instance_reuse', "its parent's limits and instance reuse");
    assertProblem(manifest(deps, { extra: '[component.auth.dependencies]\n"acme:x/y" = { path = "y.wasm" }' }), 'component.auth.dependencies', 'cannot have dependencies of its own');
    // Routed, its own grants serve its own requests.
    const routed = parseManifest(manifest(deps, { auth: 'key_value_stores = ["default"]', extra: '[[route]]\npath = "/auth/..."\ncomponent = "auth"' }), FILE);
    assert.deepEqual(routed.components.get('auth')!.keyValueStores, ['default']);
    assert.equal(isDependencyOnly(routed, 'auth'), false);
    assert.equal(isDependencyOnly(parseManifest(manifest(deps, { auth: 'description = "the verifier"' }), FILE), 'auth'), true);
  });

  test('keeps the grants of a component that is a dependency and a route\'s middleware: it serves requests of its own', () => {
    const deps = '"acme:auth/verify" = { component = "auth" }';
    const extra = '[[route]]\npath = "/users/..."\ncomponent = "users"\nmiddleware = ["auth"]\n\n[component.users]\nsource = "users.wasm"';
    const app = parseManifest(manifest(deps, { auth: 'variables = ["token_secret"]', extra }), FILE);
    assert.deepEqual(app.components.get('auth')!.variables, ['token_secret']);
    assert.equal(isDependencyOnly(app, 'auth'), false);
  });
});

describe('dependency keys', () => {
  test('match imports of their package, interface and version', () => {
    const key = (k: string) => parseDependencyKey(k)!;
    assert.ok(dependencyMatches(key('acme:auth'), 'acme:auth/verify@0.1.0'));
    assert.ok(dependencyMatches(key('acme:auth/verify'), 'acme:auth/verify@0.1.0'));
    assert.ok(dependencyMatches(key('acme:auth/verify@0.1.0'), 'acme:auth/verify@0.1.0'));
    assert.ok(dependencyMatches(key('acme:auth/verify'), 'acme:auth/verify'));
    assert.ok(!dependencyMatches(key('acme:auth/verify@0.2.0'), 'acme:auth/verify@0.1.0'));
    assert.ok(!dependencyMatches(key('acme:auth/verify'), 'acme:auth/other@0.1.0'));
    assert.ok(!dependencyMatches(key('acme:auth'), 'acme:authz/verify@0.1.0'));
    assert.ok(!dependencyMatches(key('acme:auth'), 'verify'));
  });
});
