/**
 * Spin apps unchanged, through the real CLI: a spin.toml shaped like Spin's http-c template (a
 * WAGI guest built here with clang) and http-js template (a wasi:http component from
 * test/fixtures), with a runtime config, built, checked and served by `verge build/check/up`;
 * and spin.toml files Verge cannot serve, refused by file and key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtureComponent } from '../support/components.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const WAGI_SOURCE = fileURLToPath(new URL('../../../test/fixtures/spin-wagi.c', import.meta.url));
const TOKEN = 'sk-spin-0123456789';

function spinToml(originUrl: string): string {
  return `#:schema https://schemas.spinframework.dev/spin/manifest-v2/latest.json

spin_manifest_version = 2

[application]
name = "spin-hello"
version = "0.1.0"
authors = ["Verge tests <tests@example.com>"]
description = "http-c and http-js shaped, as spin new writes them"

[variables]
api_host = { default = "api.example.com" }
api_token = { required = true, secret = true }

[[trigger.http]]
route = "/..."
component = "hello-c"
executor = { type = "wagi" }

[[trigger.http]]
route = "/js/..."
component = "hello-js"

[[trigger.http]]
route = "/users/:id"
component = { source = "probe.wasm" }

[[trigger.http]]
route = { private = true }
component = "internal"

[component.hello-c]
source = "main.wasm"
allowed_outbound_hosts = []
environment = { GREETING = "hello from spin.toml" }
[component.hello-c.build]
command = "clang --target=wasm32-wasi --sysroot=/usr -O2 -o main.wasm main.c"
watch = ["**/*.c"]

[component.hello-js]
source = "probe.wasm"
allowed_outbound_hosts = ["${originUrl}"]
key_value_stores = ["default"]
[component.hello-js.variables]
api_url = "https://{{ api_host }}/v1"
api_token = "{{ api_token }}"

[component.internal]
source = "probe.wasm"
`;
}

async function text(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

async function json(url: string): Promise<{ status: number; value: Record<string, unknown> }> {
  const r = await text(url);
  return { status: r.status, value: JSON.parse(r.body) as Record<string, unknown> };
}

describe('a Spin app under verge up', () => {
  let node: VergeProcess;
  let origin: http.Server;
  let originUrl = '';
  let dir = '';
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'verge-spin-cache-'));

  before(async () => {
    origin = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.url}`));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    dir = mkdtempSync(path.join(os.tmpdir(), 'verge-spin-app-'));
    copyFileSync(WAGI_SOURCE, path.join(dir, 'main.c'));
    writeFileSync(path.join(dir, 'probe.wasm'), await fixtureComponent('probe'));
    writeFileSync(path.join(dir, 'spin.toml'), spinToml(originUrl));
    writeFileSync(path.join(dir, 'runtime-config.toml'), '[key_value_store.default]\ntype = "spin"\npath = "state/kv.db"\n');

    const build = await runVerge(['build', dir]);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr + build.stdout, /Built 1 component\./);
    node = await startVerge(dir, ['--workers', '2', '--runtime-config-file', path.join(dir, 'runtime-config.toml')], {
      env: { VERGE_VAR_API_TOKEN: TOKEN, VERGE_CACHE_DIR: cacheDir },
      readyMs: 90_000,
    });
  });

  after(async () => {
    await node?.stop();
    origin?.close();
  });

  test('verge check reads the spin.toml and its runtime config and loads every module', async () => {
    const r = await runVerge(['check', dir, '--runtime-config-file', path.join(dir, 'runtime-config.toml')], { env: { VERGE_VAR_API_TOKEN: TOKEN, VERGE_CACHE_DIR: cacheDir } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /spin\.toml: 4 routes, 4 components: ok/);
  });

  test('the wildcard route "/..." serves the WAGI guest, with argv and environment as Spin gives them', async () => {
    const r = await text(`${node.url}/hello/there?a=1&b=2`);
    assert.equal(r.status, 200);
    assert.match(r.body, /^greeting=hello from spin\.toml$/m);
    assert.match(r.body, /^method=GET$/m);
    assert.match(r.body, /^path_info=\/hello\/there$/m);
    assert.match(r.body, /^argv\[0\]=\/hello\/there\nargv\[1\]=a=1\nargv\[2\]=b=2$/m);
  });

  test("Verge's limits apply to a Spin app by default: the guest cannot grow past 128 MiB", async () => {
    const r = await text(`${node.url}/grow?grow`);
    assert.equal(r.status, 200);
    const mib = Number(/grew=(\d+)/.exec(r.body)?.[1]);
    assert.ok(mib > 100 && mib < 128, r.body);
  });

  test('a "/js/..." route serves the wasi:http component, beside the WAGI wildcard', async () => {
    const r = await json(`${node.url}/js/echo?x=1`);
    assert.equal(r.status, 200);
    assert.equal(r.value.path, '/js/echo');
    assert.equal(r.value.query, '?x=1');
  });

  test('component variables are their templates filled in from the app variables', async () => {
    assert.deepEqual((await json(`${node.url}/js/var?name=api_url`)).value, { value: 'https://api.example.com/v1' });
    assert.deepEqual((await json(`${node.url}/js/var?name=api_token`)).value, { value: TOKEN });
    // An app variable is not a component variable: the component reads only its own.
    assert.equal((await json(`${node.url}/js/var?name=api_host`)).status, 500);
  });

  test('the default store is the runtime config\'s SQLite file', async () => {
    assert.deepEqual((await json(`${node.url}/js/kv-set?key=spin&value=yes`)).value, { value: true });
    assert.deepEqual((await json(`${node.url}/js/kv-get?key=spin`)).value, { value: 'yes' });
    assert.ok(existsSync(path.join(dir, 'state/kv.db')));
  });

  test('allowed_outbound_hosts lets the component reach the listed origin and nothing else', async () => {
    const allowed = await json(`${node.url}/js/fetch-case?url=${encodeURIComponent(`${originUrl}/hi`)}`);
    assert.deepEqual(allowed.value, { value: '200 origin saw /hi' });
    const denied = await json(`${node.url}/js/fetch-case?url=${encodeURIComponent('http://127.0.0.1:9/')}`);
    assert.equal(denied.status, 502);
  });

  test('a ":id" route serves the inline component, and only paths of its shape', async () => {
    const r = await json(`${node.url}/users/echo`);
    assert.equal(r.value.path, '/users/echo');
    // Longer paths fall through to the "/..." wildcard (the WAGI guest).
    assert.match((await text(`${node.url}/users/echo/more`)).body, /^greeting=/m);
  });

  test('a private route is not reachable from outside', async () => {
    const r = await text(`${node.url}/.spin-private/internal`);
    assert.match(r.body, /^greeting=/m, 'the public wildcard answers, not the private component');
    assert.ok(!node.stderr().includes(`${node.url}/.spin-private`), 'the banner lists no URL for it');
    assert.match(node.stderr(), /internal: \/\.spin-private\/internal \(private: chained calls only\)/);
  });
});

describe('a spin.toml Verge cannot serve', () => {
  const refused = async (toml: string): Promise<{ file: string; out: string }> => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-spin-refused-'));
    writeFileSync(path.join(dir, 'spin.toml'), toml);
    const r = await runVerge(['check', dir]);
    assert.notEqual(r.code, 0);
    return { file: path.join(dir, 'spin.toml'), out: r.stderr + r.stdout };
  };

  test('a Redis trigger and a { url, digest } source are named with file and key', async () => {
    // Shaped like Spin's redis-rust and static-fileserver templates.
    const { file, out } = await refused(`spin_manifest_version = 2
[application]
name = "mixed"
[application.trigger.redis]
address = "redis://localhost:6379"
[[trigger.redis]]
channel = "messages"
component = "fileserver"
[[trigger.http]]
route = "/static/..."
component = "fileserver"
[component.fileserver]
source = { url = "https://github.com/spinframework/spin-fileserver/releases/download/v0.3.0/spin_static_fs.wasm", digest = "sha256:ef88708817e107bf49985c7cefe4dd1f199bf26f6727819183d5c996baa3d148" }
files = [{ source = "assets", destination = "/" }]
`);
    assert.ok(out.includes(`${file}: trigger.redis: redis triggers are not supported`), out);
    assert.ok(out.includes(`${file}: application.trigger.redis: app-level settings of redis triggers are not supported`), out);
    assert.ok(out.includes(`${file}: component.fileserver.source: is not supported: a { url, digest } source is downloaded`), out);
    assert.match(out, /MANIFEST_INVALID/);
  });

  test('a version 1 manifest is refused, naming the key', async () => {
    const { file, out } = await refused('spin_manifest_version = "1"\nname = "old"\ntrigger = { type = "http", base = "/" }\n[[component]]\nid = "old"\nsource = "old.wasm"\n');
    assert.ok(out.includes(`${file}: spin_manifest_version: Verge reads Spin manifest version 2`), out);
  });
});
