import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import wabtInit from 'wabt';
import { WorkerPool } from '../dispatch/pool.js';
import { guestRequest } from '../../test/support/guest-request.js';
import { parseManifest } from '../manifest/load.js';
import { contentId, loadVersion, type LoadedVersion } from '../loader/app-version.js';
import { createLogger } from '../telemetry/logging.js';
import { createCapabilityHost } from '../capabilities/index.js';
import { AppRegistry } from './registry.js';

let wabt: Awaited<ReturnType<typeof wabtInit>>;

/** A WAGI guest answering `text`; with `spin`, it first loops that many million times (to stay in flight). */
function guest(text: string, spin = 0): Uint8Array {
  const head = `content-type: text/plain\n\n${text}`;
  const mod = wabt.parseWat(
    'g.wat',
    `(module (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (memory 1) (data (i32.const 64) "${head.replace(/\n/g, '\\0a')}")
      (func (export "_start") (local $i i32)
        (local.set $i (i32.const ${spin * 1_000_000}))
        (block $done (loop $l (br_if $done (i32.eqz (local.get $i))) (local.set $i (i32.sub (local.get $i) (i32.const 1))) (br $l)))
        (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const ${Buffer.byteLength(head)}))
        (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`,
  );
  try {
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

function version(name: string, text: string, opts: { spin?: number; route?: string; hosts?: string } = {}): Promise<LoadedVersion> {
  const manifestText = `[application]\nname = "${name}"\n${opts.hosts ? `hosts = ${opts.hosts}\n` : ''}[[route]]\npath = "${opts.route ?? '/...'}"\ncomponent = "c"\n[component.c]\nsource = "c.wasm"\n`;
  const app = parseManifest(manifestText, `/virtual/${name}/verge.toml`);
  return loadVersion({ app, manifestText, modules: new Map([['c', guest(text, opts.spin)]]) });
}

const request = (id: string, v: string) => guestRequest(id, 'c', v);

describe('AppRegistry', () => {
  let pool: WorkerPool;
  let registry: AppRegistry;
  const unloaded: string[] = [];
  let n = 0;

  /** Binds a request for `path` and runs it on the version it bound to. */
  async function serve(path = '/', host?: string): Promise<string> {
    const id = `r${++n}`;
    const bound = registry.bind(host, path);
    if (!bound) return 'no route';
    try {
      const out = await pool.run(request(id, bound.target.version.key), 5000);
      return out.ok ? Buffer.from(out.response.body).toString() : out.error.code;
    } finally {
      bound.release();
    }
  }

  before(async () => {
    wabt = await wabtInit();
    const { logger } = createLogger('silent');
    const capabilities = createCapabilityHost({ dataDir: '.verge/data', env: {}, logger });
    pool = new WorkerPool({ size: 2, spares: 1, queueLimit: 100, hostCall: capabilities.handle, onRequestEnd: capabilities.endRequest });
    await pool.start();
    registry = new AppRegistry({ pool, capabilities, onUnload: (v) => unloaded.push(v.key) });
  });

  after(() => pool.close(0));

  test('serves the installed version and swaps to a new one for the next request', async () => {
    await registry.install(await version('a', 'one'));
    assert.equal(await serve(), 'one');
    const result = await registry.install(await version('a', 'two'));
    assert.equal(result.kind, 'installed');
    assert.equal(await serve(), 'two');
    assert.deepEqual(pool.loadedVersions, [registry.apps.get('a')!.key], 'the replaced version left the workers');
  });

  test('a request in flight finishes on its version, which is unloaded only when it ends', async () => {
    await registry.install(await version('b', 'slow old', { spin: 300, route: '/b/...' }));
    const old = registry.apps.get('b')!;
    const inFlight = serve('/b/x');
    await registry.install(await version('b', 'new', { route: '/b/...' }));
    assert.equal(await serve('/b/x'), 'new', 'a new request binds to the new version at once');
    assert.ok(pool.loadedVersions.includes(old.key), 'the old version stays loaded while its request runs');
    assert.deepEqual(registry.draining, [old]);
    assert.equal(await inFlight, 'slow old');
    assert.ok(!pool.loadedVersions.includes(old.key));
    assert.ok(unloaded.includes(old.key));
  });

  test('the same content installed again is recognised and changes nothing', async () => {
    const v = await version('c', 'same', { route: '/c' });
    await registry.install(v);
    const serving = registry.apps.get('c')!;
    const again = await registry.install(await version('c', 'same', { route: '/c' }));
    assert.equal(again.kind, 'unchanged');
    assert.equal(registry.apps.get('c'), serving);
    assert.equal(contentId({ app: v.app, manifestText: 'x', modules: new Map() }).length, 64);
  });

  test('a version that conflicts with another app is refused and the serving one stays', async () => {
    await registry.install(await version('d', 'd', { route: '/d/...' }));
    await assert.rejects(registry.install(await version('e', 'e', { route: '/d/...' })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'APP_CONFLICT');
      assert.match(err.message, /app e: route "\/d\/\.\.\." is already served by app d/);
      return true;
    });
    assert.equal(await serve('/d/x'), 'd');
    assert.equal(registry.apps.has('e'), false);
  });

  test('a version no worker can load never replaces the serving one', async () => {
    await registry.install(await version('f', 'good', { route: '/f' }));
    const bad = await version('f', 'bad', { route: '/f' });
    // A module whose import no worker provides: the workers refuse it at instantiation, not at load;
    // so break the load itself by pointing the glue of a fake component nowhere.
    const broken: LoadedVersion = {
      ...bad,
      components: [{ ...bad.components[0]!, spec: { kind: 'component', component: 'c', glue: 'file:///nonexistent/component.js', coreModules: {}, coreMemories: {}, handlerExport: 'x', instanceReuse: 1, maxResponseBytes: 1 } }],
    };
    await assert.rejects(registry.install(broken), /a worker could not load the new version: .*nonexistent/);
    assert.equal(await serve('/f'), 'good');
    assert.equal(pool.loadedVersions.filter((k) => k.startsWith('f@')).length, 1);
  });

  test('a deployment of two versions splits requests by weight, and a weight change loads nothing again', async () => {
    const one = await version('g', 'g-one', { route: '/g' });
    const two = await version('g', 'g-two', { route: '/g' });
    await registry.deploy('g', [
      { loaded: one, weight: 50 },
      { loaded: two, weight: 50 },
    ]);
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add(await serve('/g'));
    assert.deepEqual([...seen].sort(), ['g-one', 'g-two']);
    const keys = registry.deployments.get('g')!.entries.map((e) => e.version.key);
    await registry.deploy('g', [
      { id: one.id, weight: 0 },
      { id: two.id, weight: 100 },
    ]);
    for (let i = 0; i < 20; i++) assert.equal(await serve('/g'), 'g-two');
    assert.deepEqual(registry.deployments.get('g')!.entries.map((e) => e.version.key), keys, 'the same loaded versions');
    assert.ok(keys.every((k) => pool.loadedVersions.includes(k)), 'a version at weight 0 stays loaded');
  });

  test('a version the chosen split does not route answers as that version would: no route', async () => {
    const narrow = await version('h', 'h-narrow', { route: '/h/a' });
    const wide = await version('h', 'h-wide', { route: '/h/...' });
    await registry.deploy('h', [
      { loaded: narrow, weight: 1 },
      { loaded: wide, weight: 0 },
    ]);
    assert.equal(await serve('/h/a'), 'h-narrow');
    assert.equal(await serve('/h/b'), 'no route');
  });

  test('every binding names its version in x-verge-version, and release feeds its window', async () => {
    await registry.install(await version('i', 'i', { route: '/i' }));
    const bound = registry.bind(undefined, '/i')!;
    assert.deepEqual(bound.headers, ['x-verge-version', bound.target.version.shortId]);
    bound.release(503, 12);
    assert.equal(bound.target.version.stats.snapshot().requests, 1);
    assert.equal(bound.target.version.stats.snapshot().errors5xx, 1);
  });

  test('a deployment without a weight above 0, or naming a version that is not loaded, is refused', async () => {
    await assert.rejects(registry.deploy('j', [{ loaded: await version('j', 'j'), weight: 0 }]), /at least one version with a weight above 0/);
    await assert.rejects(registry.deploy('j', [{ id: 'f'.repeat(64), weight: 1 }]), /is not loaded on this node/);
  });
});
