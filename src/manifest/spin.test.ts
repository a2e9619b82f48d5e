import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VergeError } from '../errors.js';
import { loadManifest, readApp, resolveManifestPath } from './load.js';
import { spinRoute } from './spin.js';

/** A folder holding the given files; returns its path. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'verge-spin-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

/** Shaped like Spin's http-rust and http-c templates, with what an app adds to them. */
const HTTP_APP = `#:schema https://schemas.spinframework.dev/spin/manifest-v2/latest.json
spin_manifest_version = 2

[application]
name = "hello"
version = "0.1.0"
authors = ["A. Person <a@example.com>"]
description = "A Spin app"

[variables]
host = { default = "api.example.com" }
token = { required = true, secret = true }
region = { default = "eu", description = "where it runs" }

[[trigger.http]]
route = "/..."
component = "hello"
executor = { type = "wagi" }

[[trigger.http]]
route = "/api/*"
component = "api"

[[trigger.http]]
route = "/users/:id/"
component = { source = "users.wasm", allowed_outbound_hosts = [] }

[[trigger.http]]
id = "internal"
route = { private = true }
component = { source = "internal.wasm" }

[component.hello]
source = "main.wasm"
allowed_outbound_hosts = ["https://api.example.com"]
key_value_stores = ["default"]
environment = { GREETING = "hi" }
[component.hello.variables]
api_url = "https://{{ host }}/v1/{{ region }}"
token = "{{ token }}"
[component.hello.build]
command = ["make wasm", "wasm-opt main.wasm"]
watch = ["**/*.c"]

[component.api]
source = "api.wasm"
[component.api.tool.spin-test]
source = "tests.wasm"
`;

/** Runs `fn`, expects MANIFEST_INVALID and returns its message. */
function invalid(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VergeError, `expected a VergeError, got ${String(err)}`);
    assert.equal(err.code, 'MANIFEST_INVALID');
    return err.message;
  }
  assert.fail('expected MANIFEST_INVALID');
}

describe('spin.toml', () => {
  test('a folder with a spin.toml and no verge.toml is a Spin app', () => {
    const dir = folder({ 'spin.toml': HTTP_APP });
    assert.equal(resolveManifestPath(dir), path.join(dir, 'spin.toml'));
    const both = folder({ 'spin.toml': HTTP_APP, 'verge.toml': '' });
    assert.equal(resolveManifestPath(both), path.join(both, 'verge.toml'));
  });

  test('translates triggers, components, variables, environment and builds into the app Verge serves', () => {
    const dir = folder({ 'spin.toml': HTTP_APP });
    const app = loadManifest(dir);
    assert.equal(app.name, 'hello');
    assert.deepEqual(
      app.routes.map((r) => [r.path, r.component, r.private]),
      [
        ['/...', 'hello', false],
        ['/api/...', 'api', false],
        ['/users/:id', 'inline-component1', false],
        ['/.spin-private/internal-component', 'internal-component', true],
      ],
    );
    const hello = app.components.get('hello')!;
    assert.equal(hello.source, path.join(dir, 'main.wasm'));
    assert.equal(hello.executor, 'wagi');
    assert.equal(app.components.get('api')!.executor, undefined);
    assert.deepEqual(hello.variables, ['api_url', 'token']);
    assert.equal(hello.variableTemplates?.get('api_url'), 'https://{{ host }}/v1/{{ region }}');
    assert.deepEqual(hello.environment, [['GREETING', 'hi']]);
    assert.deepEqual(hello.keyValueStores, ['default']);
    assert.deepEqual(hello.allowedOutboundHosts, ['https://api.example.com']);
    assert.deepEqual(hello.build, { kind: 'command', command: 'make wasm && wasm-opt main.wasm', workdir: dir, watch: ['**/*.c'] });
    assert.equal(app.variables.get('token')?.secret, true);
    // Verge's limits apply: nothing in a spin.toml lifts them.
    assert.equal(hello.limits.timeoutMs, 30_000);
  });

  test('a version holds the translation, which reads back as a verge.toml to the same app', () => {
    const dir = folder({ 'spin.toml': HTTP_APP });
    const file = path.join(dir, 'spin.toml');
    const { app, vergeText } = readApp(HTTP_APP, file);
    const again = readApp(vergeText, path.join(dir, 'verge.toml')).app;
    assert.deepEqual([...again.components.keys()], [...app.components.keys()]);
    assert.deepEqual(again.routes, app.routes);
    assert.deepEqual(again.components.get('hello')!.variableTemplates, app.components.get('hello')!.variableTemplates);
  });

  test('routes are read as Spin reads them', () => {
    assert.equal(spinRoute('/...'), '/...');
    assert.equal(spinRoute('/'), '/');
    assert.equal(spinRoute('hello'), '/hello');
    assert.equal(spinRoute('/hello/'), '/hello');
    assert.equal(spinRoute('/static/*'), '/static/...');
    assert.equal(spinRoute('/users/:id'), '/users/:id');
  });

  test('names the file and key of each thing Verge does not support', () => {
    const text = HTTP_APP.replace('[component.api]\nsource = "api.wasm"', '[component.api]\nsource = { url = "https://example.com/a.wasm", digest = "sha256:00" }\nsqlite_databases = ["default"]\nallowed_outbound_hosts = ["http://self", "https://{{ host }}"]')
      + '\n[[trigger.redis]]\nchannel = "messages"\ncomponent = "api"\n';
    const dir = folder({ 'spin.toml': text });
    const file = path.join(dir, 'spin.toml');
    const message = invalid(() => loadManifest(dir));
    assert.match(message, new RegExp(`${file}: component\\.api\\.source: is not supported: a \\{ url, digest \\} source is downloaded`));
    assert.match(message, /component\.api\.sqlite_databases: is not supported/);
    assert.match(message, /component\.api\.allowed_outbound_hosts\[0\]: "self"/);
    assert.match(message, /component\.api\.allowed_outbound_hosts\[1\]: templates in allowed_outbound_hosts are not supported/);
    assert.match(message, /trigger\.redis: redis triggers are not supported: Verge serves HTTP triggers only/);
  });

  test('a manifest of version 1 is refused, naming the key', () => {
    const dir = folder({ 'spin.toml': 'spin_manifest_version = "1"\nname = "old"\ntrigger = { type = "http", base = "/" }\n' });
    assert.match(invalid(() => loadManifest(dir)), /spin\.toml: spin_manifest_version: Verge reads Spin manifest version 2, got the string "1"/);
  });

  test("the checks' problems are placed at the spin.toml's keys", () => {
    const text = `spin_manifest_version = 2
[application]
name = "bad"
[variables]
host = { default = "x", colour = "blue" }
[[trigger.http]]
route = "/a//b"
component = "missing"
[[trigger.http]]
route = { private = false }
component = "web"
[[trigger.http]]
route = "/x"
component = { source = "x.wasm", key_value_stores = ["nope"] }
[component.web]
source = "web.wasm"
variables = { url = "{{ nowhere }}" }
unknown_key = 1
`;
    const message = invalid(() => loadManifest(folder({ 'spin.toml': text })));
    assert.match(message, /: trigger\.http\[0\]\.route: empty path segment/);
    assert.match(message, /: trigger\.http\[0\]\.component: no \[component\.missing\] is defined/);
    assert.match(message, /: trigger\.http\[1\]\.route\.private: expected private = true/);
    assert.match(message, /: trigger\.http\[2\]\.component\.key_value_stores\[0\]: no store "nope"/);
    assert.match(message, /: component\.web\.variables\.url: \{\{ nowhere \}\}: no variable "nowhere" is declared/);
    assert.match(message, /: component\.web\.unknown_key: unknown key/);
    assert.match(message, /: variables\.host\.colour: unknown key/);
  });

  describe('runtime config', () => {
    test('a type = "spin" store is SQLite at its path, relative to the runtime config file', () => {
      const dir = folder({ 'spin.toml': HTTP_APP, 'runtime-config.toml': '[key_value_store.default]\ntype = "spin"\npath = "data/kv.db"\n\n[key_value_store.cache]\ntype = "spin"\n' });
      const app = loadManifest(dir, { runtimeConfigFile: path.join(dir, 'runtime-config.toml') });
      assert.deepEqual(app.keyValueStores.get('default'), { name: 'default', backend: 'sqlite', options: { path: 'data/kv.db' } });
      assert.deepEqual(app.keyValueStores.get('cache'), { name: 'cache', backend: 'sqlite', options: {} });
    });

    test('a redis store in the runtime config is a Verge Redis store at its url, with no key prefix', () => {
      const dir = folder({ 'spin.toml': HTTP_APP, 'runtime-config.toml': '[key_value_store.default]\ntype = "redis"\nurl = "redis://127.0.0.1:6390/2"\n' });
      const app = loadManifest(dir, { runtimeConfigFile: path.join(dir, 'runtime-config.toml') });
      const store = app.keyValueStores.get('default')!;
      assert.equal(store.backend, 'redis');
      assert.equal(store.options.url, 'redis://127.0.0.1:6390/2');
      assert.equal(store.options.prefix ?? '', '');
    });

    test('a store type or table Verge has no backend for, or a redis store without its url, is named with its file and key', () => {
      const rc = '[key_value_store.default]\ntype = "redis"\n\n[key_value_store.other]\ntype = "azure_cosmos"\n\n[sqlite_database.default]\ntype = "spin"\n';
      const dir = folder({ 'spin.toml': HTTP_APP, 'rc.toml': rc });
      const file = path.join(dir, 'rc.toml');
      const message = invalid(() => loadManifest(dir, { runtimeConfigFile: file }));
      assert.match(message, new RegExp(`${file}: key_value_store\\.default\\.url: is required: expected a Redis URL`));
      assert.match(message, /key_value_store\.other\.type: "azure_cosmos" is not supported/);
      assert.match(message, /rc\.toml: sqlite_database: is not supported/);
    });

    test('a verge.toml app refuses a runtime config file rather than ignoring it', () => {
      const dir = folder({ 'verge.toml': '[application]\nname = "v"\n[component.a]\nsource = "a.wasm"\n[[route]]\npath = "/"\ncomponent = "a"\n', 'rc.toml': '' });
      assert.match(invalid(() => loadManifest(dir, { runtimeConfigFile: path.join(dir, 'rc.toml') })), /a runtime config file is read for a spin\.toml only/);
    });
  });
});
