/** The key-value capability: `[key_value_stores.x]`, verge:v1 kv_*, wasi:keyvalue. */
import { StoreError, type KvStore } from '../../backends/store.js';
import type { Capability } from '../capability.js';
import { kvImports } from './bindings/wasi-p1.js';
import { kvComponentImports } from './bindings/component.js';
import { KV_LIMITS } from './limits.js';
import { applyKvOp } from './ops.js';
import { checkStoreVariables, readKeyValueStores, readStoreGrants } from './schema.js';
import { StoreBreakers } from './store-breakers.js';
import { storeView } from './browse.js';
import { locateStore, storeOptionExpander } from './locate.js';
import { storeCallDeadline } from '../../backends/deadline.js';
import type { StoreView } from '../capability.js';

export const kvCapability: Capability = {
  name: 'kv',
  manifest: {
    readApp: (root, problems) => ({ keyValueStores: readKeyValueStores(root, problems) }),
    readComponent: (c, app) => ({ keyValueStores: Object.freeze(readStoreGrants(c, app.keyValueStores)) }),
    checkApp: (app, problems) => checkStoreVariables(app.keyValueStores, app.variables, problems),
  },
  inheritable: [{ key: 'key_value_stores', fields: ['keyValueStores'] }],
  provides: {
    vergeV1: ['kv_open', 'kv_get', 'kv_set', 'kv_delete', 'kv_exists', 'kv_increment', 'kv_compare_and_swap', 'kv_list_keys'],
    wasi: ['wasi:keyvalue/store', 'wasi:keyvalue/atomics', 'wasi:keyvalue/batch'],
  },
  hostCallTimeoutMs: KV_LIMITS.hostCallTimeoutMs,
  prepare(app, ctx) {
    const addresses = new Map<string, string | undefined>();
    const mainStores = new Map<string, { store: KvStore; breakers: StoreBreakers }>();
    const views: StoreView[] = [];
    const expand = storeOptionExpander(app, ctx.env, ctx.envFile);
    for (const decl of app.keyValueStores.values()) {
      const { backend, location } = locateStore(decl, app, ctx.dataDir, expand(decl.name));
      // A main-thread store's address (a URL, perhaps with a password) stays on the main thread.
      addresses.set(decl.name, backend.runsIn === 'worker' ? location.address : undefined);
      if (backend.runsIn === 'main') {
        const entry = ctx.shared(
          // A changed option (a Redis prefix, a NATS bucket or replica count) is another store.
          `kv/${decl.name}/${decl.backend}/${location.address ?? ''}/${JSON.stringify(decl.options)}`,
          () => ({ store: backend.open(location), breakers: new StoreBreakers(decl.name, (...change) => ctx.onBreaker?.(app.name, ...change)) }),
          (s) => s.store.close(),
        );
        mainStores.set(decl.name, entry);
      }
      views.push(storeView(decl, backend, location, mainStores.get(decl.name)?.store));
    }
    return {
      stores: views,
      grants: (c) => ({
        kvStores: c.keyValueStores.map((name) => ({ name, backend: app.keyValueStores.get(name)!.backend, address: addresses.get(name) })),
      }),
      hostCalls: {
        kv: async (call) => {
          const entry = mainStores.get(call.store);
          if (!entry) return { ok: false, status: 'UNAVAILABLE', message: `store ${call.store} is not served by this node` };
          try {
            // A network store bounds its own wait by the request's deadline (backends/deadline.ts).
            const run = () => storeCallDeadline.run(call.deadlineAt, () => applyKvOp(entry.store, call.kv));
            const value = await entry.breakers.for(call.kv).callAsync(run);
            // An answer, not a failure; named for the metrics as the worker names a miss on its own stores.
            return value === undefined && call.kv.method === 'get' ? { ok: true, value, outcome: 'NOT_FOUND' } : { ok: true, value };
          } catch (err) {
            if (err instanceof StoreError) return { ok: false, status: err.reason, message: `store ${call.store}: ${err.message}` };
            throw err;
          }
        },
      },
    };
  },
  bindings: { wasiP1: kvImports, component: kvComponentImports },
};
