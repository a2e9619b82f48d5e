import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseManifest } from '../manifest/load.js';
import { isVergeError } from '../errors.js';
import type { HostCall, HostCallBody } from '../dispatch/protocol.js';
import { createCapabilityHost, type CapabilityHostOptions } from './host.js';
import type { Capability } from './capability.js';
import { openSqliteStore } from '../backends/sqlite/sqlite-store.js';
import { emptyDir } from './files/tree.js';

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

function harness(env: NodeJS.ProcessEnv = { VERGE_VAR_TOKEN: 't0k3n' }, extra: Partial<CapabilityHostOptions> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-host-'));
  const app = parseManifest(MANIFEST, path.join(dir, 'verge.toml'));
  const host = createCapabilityHost({ dataDir: '.verge/data', env, logger: pino({ level: 'silent' }), ...extra });
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
    assert.deepEqual(grants.outbound, { maxRequestBodyBytes: 10 * 1024 * 1024, maxResponseBytes: 10 * 1024 * 1024, chains: [] });
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
    assert.deepEqual(db.outbound, { maxRequestBodyBytes: 10 * 1024 * 1024, maxResponseBytes: 10 * 1024 * 1024, chains: [] });
    assert.throws(() => prepared.grantsFor('api', 'acme:nope'), /component api has no dependency acme:nope/);
    await host.close();
  });

  test("a dependency inheriting redis opens its parent's named connections, and addresses only with allowed_outbound_hosts too", async () => {
    const { dir, host } = harness();
    const withDeps = `${MANIFEST.replace('variables = ["greeting", "token"]', 'variables = ["greeting", "token"]\nredis = ["cache"]')}
[redis.cache]
url = "redis://127.0.0.1:6379"

[component.api.dependencies]
"acme:names" = { path = "names.wasm", inherit = ["redis"] }
"acme:both" = { path = "both.wasm", inherit = ["redis", "allowed_outbound_hosts"] }
"acme:none" = { path = "none.wasm" }
`;
    const prepared = host.prepare('v1', parseManifest(withDeps, path.join(dir, 'verge.toml')));
    assert.deepEqual(prepared.grantsFor('api').redis, { names: ['cache'], byAddress: true });
    assert.deepEqual(prepared.grantsFor('api', 'acme:names').redis, { names: ['cache'], byAddress: false });
    assert.deepEqual(prepared.grantsFor('api', 'acme:both').redis, { names: ['cache'], byAddress: true });
    assert.equal(prepared.grantsFor('api', 'acme:none').redis, undefined);
    await host.close();
  });

  test("a dependency that inherits files reads its parent's mounted tree; one that does not has none", async () => {
    const { dir, host } = harness();
    const withFiles = MANIFEST.replace('variables = ["greeting", "token"]', 'variables = ["greeting", "token"]\nfiles = [{ source = "keys/", destination = "/keys" }]');
    const app = parseManifest(
      `${withFiles}
[component.api.dependencies]
"acme:auth/verify" = { path = "auth.wasm", inherit = ["files"] }
"acme:db" = { path = "db.wasm" }
`,
      path.join(dir, 'verge.toml'),
    );
    const tree = emptyDir(1);
    const prepared = host.prepare('v1', app, { files: new Map([['api', tree]]) });
    assert.equal(prepared.grantsFor('api').files, tree);
    assert.equal(prepared.grantsFor('api', 'acme:auth/verify').files, tree);
    assert.equal(prepared.grantsFor('api', 'acme:db').files, undefined);
    assert.equal(prepared.grantsFor('api', 'acme:auth/verify').variables.length, 0, 'only files were inherited');
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

  test('every host call answered here is reported with the capability, how it went and how long it took', async () => {
    const seen: Array<[string, string, string, number]> = [];
    const { app, host, call } = harness(undefined, { onHostCall: (c, capability, outcome, seconds) => seen.push([c.component, capability, outcome, seconds]) });
    host.prepare('v1', app);
    await host.handle(call('v1', set('k', 'v')));
    await host.handle(call('v1', get('k')));
    await host.handle(call('v1', get('missing')));
    await host.handle(call('v1', { op: 'http', request: { method: 'GET', url: 'https://api.example.com/', headers: [], body: new Uint8Array() } }, 'bare'));
    await host.handle(call('gone', get('k')));
    assert.deepEqual(
      seen.map(([component, capability, outcome]) => `${component} ${capability} ${outcome}`),
      ['api kv OK', 'api kv OK', 'api kv NOT_FOUND', 'bare outbound-http ACCESS_DENIED'],
      'a call for a version not loaded here has no capability to report it under',
    );
    assert.ok(seen.every(([, , , seconds]) => seconds >= 0 && seconds < 5));
    await host.close();
  });

  test('a host call that fails inside Verge is logged with its app and component, and answered UNAVAILABLE', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const broken: Capability = {
      name: 'kv',
      manifest: {},
      provides: { vergeV1: [], wasi: [] },
      prepare: () => ({ hostCalls: { kv: () => Promise.reject(new Error('bug')) } }),
      bindings: { wasiP1: () => ({}), component: () => ({}) },
    };
    const outcomes: string[] = [];
    const { app, host, call } = harness(undefined, { logger, capabilities: [broken], onHostCall: (_c, _cap, outcome) => outcomes.push(outcome) });
    host.prepare('v1', app);
    const reply = await host.handle(call('v1', get('k')));
    assert.deepEqual(reply, { ok: false, status: 'UNAVAILABLE', message: 'the host failed while serving kv: bug' });
    const failed = lines.find((l) => l.msg === 'host call failed');
    assert.deepEqual([failed?.app, failed?.component, failed?.op], ['shop', 'api', 'kv']);
    assert.deepEqual(outcomes, ['UNAVAILABLE']);
    await host.close();
  });

  test('preparing one version id twice is refused', () => {
    const { app, host } = harness();
    host.prepare('v1', app);
    assert.throws(() => host.prepare('v1', app), /prepared already/);
  });
});

describe('chained calls through the outbound capability', () => {
  const CHAINS = `
[application]
name = "shop"

[[route]]
path = "/..."
component = "gw"
middleware = ["mw"]

[component.gw]
source = "gw.wasm"
allowed_outbound_hosts = ["http://auth.verge.internal", "http://*:*"]

[component.auth]
source = "auth.wasm"

[component.mw]
source = "mw.wasm"
`;

  function harness() {
    const app = parseManifest(CHAINS, '/srv/shop/verge.toml');
    const host = createCapabilityHost({ dataDir: '.verge/data', env: {}, logger: pino({ level: 'silent' }) });
    const prepared = host.prepare('v1', app);
    const send = (url: string, component = 'gw', requestId = 'root', root?: string) =>
      host.handle({ op: 'http', request: { method: 'GET', url, headers: [['x-a', 'b']], body: new Uint8Array() }, version: 'v1', component, requestId, root, callId: 1, deadlineAt: undefined });
    return { host, prepared, send };
  }

  test("the worker learns which components a component may call: those its grant names (a wildcard over every host names none), every one for http://*.verge.internal", async () => {
    const { host, prepared } = harness();
    const app = parseManifest(CHAINS.replace('"http://*:*"]', '"http://*:*"]\n\n[component.all]\nsource = "all.wasm"\nallowed_outbound_hosts = ["http://*.verge.internal"]'), '/srv/shop/verge.toml');
    const all = host.prepare('v2', app);
    const outbound = prepared.grantsFor('gw').outbound;
    assert.deepEqual(outbound && outbound.chains, ['auth']);
    const every = all.grantsFor('all').outbound;
    assert.equal(every && every.chains, '*');
    await host.close();
  });

  test('a middleware may pass its request on without allowed_outbound_hosts; a component that is neither granted nor middleware gets no outbound grant', async () => {
    const { host, prepared } = harness();
    assert.deepEqual(prepared.grantsFor('mw').outbound, { maxRequestBodyBytes: 10 * 1024 * 1024, maxResponseBytes: 10 * 1024 * 1024, chains: [] });
    assert.equal(prepared.grantsFor('auth').outbound, false);
    await host.close();
  });

  test('a chained URL that reaches the main thread is refused, never sent: the caller\'s worker runs chained calls', async () => {
    const { host, send } = harness();
    for (const url of ['http://auth.verge.internal/', 'https://auth.verge.internal/', 'http://a.b.verge.internal/', 'http://verge.internal/']) {
      const reply = await send(url);
      assert.equal(reply.ok ? 'ok' : reply.status, 'INVALID_ARGUMENT', url);
    }
    await host.close();
  });

  test("a callee's host calls name its inbound request, and spend that request's outbound budget: 50 calls in all, then LIMIT_EXCEEDED", async () => {
    const { host, send } = harness();
    // Refused by the allow-list after the budget is spent, so nothing leaves the machine.
    const refused = 'http://127.0.0.1:9/';
    for (let i = 0; i < 30; i++) assert.equal((await send(refused, 'gw', 'root')).ok, false);
    for (let i = 0; i < 20; i++) {
      const r = await send(refused, 'gw', 'callee', 'root');
      assert.notEqual(r.ok ? 'ok' : r.status, 'LIMIT_EXCEEDED');
    }
    const over = await send(refused, 'gw', 'callee', 'root');
    assert.equal(over.ok ? 'ok' : over.status, 'LIMIT_EXCEEDED');
    host.endRequest('callee');
    host.endRequest('root');
    await host.close();
  });
});
