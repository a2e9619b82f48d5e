/**
 * "A new capability is one new folder plus one line in the capability map": a stand-in
 * capability, added to the list the way index.ts lists the real ones, is read from the manifest,
 * prepared per app version, released, and bound into both guest interfaces — with no other
 * code naming it.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { parseManifest } from '../manifest/load.js';
import { isVergeError } from '../errors.js';
import { LineSink } from '../sandbox/output.js';
import type { HostBridge } from '../dispatch/host-bridge.js';
import type { Capability } from './capability.js';
import { GuestScope } from '../sandbox/scope.js';
import { createComponentImports, createVergeImports } from './guest-imports.js';
import { createCapabilityHost } from './host.js';
import { CAPABILITY_LIST } from './index.js';

function standIn() {
  const seen = { prefixes: new Map<string, string | undefined>(), prepared: [] as string[], released: 0 };
  const greeting: Capability = {
    name: 'greeting',
    manifest: {
      readComponent: (c) => {
        seen.prefixes.set(c.path, c.string('greeting_prefix'));
        return {};
      },
    },
    provides: { vergeV1: ['greeting_length'], wasi: ['verge:test/greeting'] },
    prepare: (app) => {
      seen.prepared.push(app.name);
      return { release: () => void seen.released++ };
    },
    bindings: {
      wasiP1: (scope) => ({ greeting_length: () => scope.guard('greeting_length', () => scope.frame.component.length) }),
      component: (scope) => ({ 'verge:test/greeting': { component: () => scope.frame.component } }),
    },
  };
  return { greeting, seen };
}

const MANIFEST = `
[application]
name = "app"
[[route]]
path = "/..."
component = "hello"
[component.hello]
source = "hello.wasm"
greeting_prefix = "hi"
`;

describe('the capability contract', () => {
  test('a capability in the list reads its own manifest keys; without it they are unknown', () => {
    const { greeting, seen } = standIn();
    assert.throws(() => parseManifest(MANIFEST, '/tmp/app/verge.toml'), (e: unknown) => isVergeError(e) && /greeting_prefix/.test(e.message));
    parseManifest(MANIFEST, '/tmp/app/verge.toml', [...CAPABILITY_LIST, greeting]);
    assert.deepEqual([...seen.prefixes.values()], ['hi']);
  });

  test('a capability in the list is prepared for each app version and released with it', async () => {
    const { greeting, seen } = standIn();
    const app = parseManifest(MANIFEST, '/tmp/app/verge.toml', [...CAPABILITY_LIST, greeting]);
    const host = createCapabilityHost({ dataDir: '.verge/data', env: {}, logger: pino({ level: 'silent' }), capabilities: [...CAPABILITY_LIST, greeting] });
    const version = host.prepare('v1', app);
    assert.deepEqual(seen.prepared, ['app']);
    version.release();
    assert.equal(seen.released, 1);
    await host.close();
  });

  test('a capability in the list is bound into verge:v1 and the wasi:* imports', () => {
    const { greeting } = standIn();
    const scope = new GuestScope(() => undefined, {} as HostBridge, () => {});
    const sink = new LineSink(() => {});
    const verge = createVergeImports(scope, [...CAPABILITY_LIST, greeting]);
    const wasi = createComponentImports(scope, { stdout: sink, stderr: sink }, [...CAPABILITY_LIST, greeting]);
    assert.ok('kv_get' in verge && 'wasi:keyvalue/store' in wasi, 'the real capabilities are still there');
    scope.begin({ id: 'r', version: 'v1', component: 'hello', grants: { kvStores: [], variables: [], outbound: false } });
    assert.equal((verge.greeting_length as () => number)(), 5);
    assert.equal((wasi['verge:test/greeting'] as { component(): string }).component(), 'hello');
    scope.end();
    assert.ok(!('greeting_length' in createVergeImports(scope)), 'the map alone decides what exists');
  });
});
