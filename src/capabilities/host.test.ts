import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseManifest } from '../manifest/load.js';
import { isVergeError } from '../errors.js';
import type { HostCall, HostCallBody } from '../dispatch/protocol.js';
import { createCapabilityHost } from './host.js';
import { openSqliteStore } from '../backends/sqlite/sqlite-store.js';

const MANIFEST = `
[application]
name = "shop"

[[route]]
path = "/..."
component = "api"

[component.api]
source = "api.wasm"
key_value_stores = ["default", "cache"]
variables = ["greeting", "token"]
allowed_outbound_hosts = ["https://api.example.com"]

[component.bare]
source = "bare.wasm"

[key_value_stores.cache]
backend = "memory"

[variables]
greeting = { default = "hello" }
token = { required = true, secret = true }
`;

function harness(env: NodeJS.ProcessEnv = { VERGE_VAR_TOKEN: 't0k3n' }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-host-'));
  const app = parseManifest(MANIFEST, path.join(dir, 'verge.toml'));
  const host = createCapabilityHost({ dataDir: '.verge/data', env, logger: pino({ level: 'silent' }) });
  let n = 0;
  const call = (version: string, body: HostCallBody, component = 'api'): HostCall => ({ ...body, version, component, requestId: `req-${++n}`, callId: n, deadlineAt: undefined });
  return { dir, app, host, call };
}

const set = (key: string, value: string): HostCallBody => ({ op: 'kv', store: 'cache', kv: { method: 'set', key, value: new TextEncoder().encode(value) } });
const get = (key: string): HostCallBody => ({ op: 'kv', store: 'cache', kv: { method: 'get', key } });

describe('capability host', () => {
  test('grants are plain data: stores with where they live, variable values, the outbound body cap', async () => {
    const { dir, app, host } = harness();
    const grants = host.prepare('v1', app).grantsFor('api');
    assert.deepEqual(grants.kvStores, [
      { name: 'default', backend: 'sqlite', address: path.join(dir, '.verge/data/default.sqlite') },
      { name: 'cache', backend: 'memory', address: undefined },
    ]);
    assert.deepEqual(grants.variables, [
      { name: 'greeting', value: 'hello', secret: false },
      { name: 'token', value: 't0k3n', secret: true },
    ]);
    assert.deepEqual(grants.outbound, { maxRequestBodyBytes: 10 * 1024 * 1024, propagateTrace: true });
    assert.deepEqual(host.prepare('v2', app).grantsFor('bare'), { kvStores: [], variables: [], outbound: false });
    structuredClone(grants);
    await host.close();
  });

  test("a dependency's grants are none but those its entry inherits from its parent", async () => {
    const { dir, host } = harness();
    const withDeps = `${MANIFEST}
[component.api.dependencies]
"acme:auth/verify" = { path = "auth.wasm" }
"acme:db" = { path = "db.wasm", inherit = ["key_value_stores", "allowed_outbound_hosts"] }
`;
    const prepared = host.prepare('v1', parseManifest(withDeps, path.join(dir, 'verge.toml')));
    assert.deepEqual(prepared.grantsFor('api', 'acme:auth/verify'), { kvStores: [], variables: [], outbound: false });
    const db = prepared.grantsFor('api', 'acme:db');
    assert.deepEqual(db.kvStores, prepared.grantsFor('api').kvStores);
    assert.deepEqual(db.variables, [], 'variables were not inherited');
    assert.deepEqual(db.outbound, { maxRequestBodyBytes: 10 * 1024 * 1024, propagateTrace: true });
    assert.throws(() => prepared.grantsFor('api', 'acme:nope'), /component api has no dependency acme:nope/);
    await host.close();
  });

  test('two versions of one app share its stores', async () => {
    const { app, host, call } = harness();
    host.prepare('v1', app);
    host.prepare('v2', app);
    assert.deepEqual(await host.handle(call('v1', set('k', 'written by v1'))), { ok: true, value: undefined });
    const read = await host.handle(call('v2', get('k')));
    assert.ok(read.ok);
    assert.equal(new TextDecoder().decode(read.value as Uint8Array), 'written by v1');
    await host.close();
  });

  test('a released version answers no more host calls; the other keeps its stores', async () => {
    const { app, host, call } = harness();
    const v1 = host.prepare('v1', app);
    host.prepare('v2', app);
    await host.handle(call('v1', set('k', 'kept')));
    v1.release();
    const refused = await host.handle(call('v1', get('k')));
    assert.deepEqual(refused, { ok: false, status: 'UNAVAILABLE', message: 'app version v1 is not loaded on this node' });
    const read = await host.handle(call('v2', get('k')));
    assert.equal(read.ok && new TextDecoder().decode(read.value as Uint8Array), 'kept');
    await host.close();
  });

  test('a missing required variable fails prepare with VARIABLE_MISSING, naming it', () => {
    const { app, host } = harness({});
    assert.throws(
      () => host.prepare('v1', app),
      (err: unknown) => isVergeError(err) && err.code === 'VARIABLE_MISSING' && /token \(set VERGE_VAR_TOKEN\)/.test(err.message),
    );
  });

  test('an outbound call from a component without allowed hosts is refused on the main thread too', async () => {
    const { app, host, call } = harness();
    host.prepare('v1', app);
    const reply = await host.handle(call('v1', { op: 'http', request: { method: 'GET', url: 'https://api.example.com/', headers: [], body: new Uint8Array() } }, 'bare'));
    assert.deepEqual(reply, { ok: false, status: 'ACCESS_DENIED', message: 'component bare has no allowed_outbound_hosts' });
    await host.close();
  });

  test('the stores browse read-only: the memory store the guests use, a SQLite file once something wrote it, and no file made by looking', async () => {
    const { dir, app, host, call } = harness();
    const stores = host.prepare('v1', app).stores();
    assert.deepEqual(stores.map((s) => [s.name, s.backend]), [['default', 'sqlite'], ['cache', 'memory']]);
    const [sqlite, memory] = stores as [(typeof stores)[number], (typeof stores)[number]];
    const file = path.join(dir, '.verge/data/default.sqlite');

    assert.deepEqual(await sqlite.read((s) => s.listKeys('', undefined, 10)), []);
    assert.equal(existsSync(file), false);

    await host.handle(call('v1', set('user:1', 'ada')));
    await host.handle(call('v1', set('user:2', 'grace')));
    assert.deepEqual(await memory.read((s) => s.listKeys('user:', 'user:1', 10)), ['user:2']);

    const writer = openSqliteStore(file);
    writer.set('hits', new TextEncoder().encode('3'));
    assert.deepEqual(await sqlite.read((s) => s.listKeys('', undefined, 10)), ['hits']);
    assert.equal(new TextDecoder().decode(await sqlite.read((s) => s.get('hits'))), '3');
    writer.close();
    // What a browse may call is what its type allows: nothing that writes.
    await sqlite.read(async (s) => assert.deepEqual(Object.keys(s).sort(), ['get', 'listKeys']));
    await host.close();
  });

  test('preparing one version id twice is refused', () => {
    const { app, host } = harness();
    host.prepare('v1', app);
    assert.throws(() => host.prepare('v1', app), /prepared already/);
  });
});
