/**
 * An app's stores as the dashboard's key-value browser reads them, from the main thread. A store
 * on the main thread (memory) is the very instance the guests use; a worker store (SQLite) is
 * opened for the one look and closed again, beside the workers' own connections (WAL lets a
 * reader in while they write). A store nothing has written to yet reads as empty and is not
 * created by looking. Writes (the admin API's, behind --kv-writes) open a worker store the same
 * way, and create it.
 */
import type { KvStore } from '../../backends/store.js';
import type { ReplicatedKvStore } from '../../backends/replicated/replicated-store.js';
import type { Backend, StoreLocation } from '../../backends/registry.js';
import type { ReadableStore, StoreView, WritableStore } from '../capability.js';
import type { KvStoreDecl } from './schema.js';

const EMPTY: ReadableStore = {
  get: async () => undefined,
  listKeys: async () => [],
};

/** Only the reads, also at run time: whatever the caller does, it holds nothing that writes. */
function readsOf(store: ReadableStore): ReadableStore {
  return { get: (key) => store.get(key), listKeys: (prefix, after, limit) => store.listKeys(prefix, after, limit) };
}

function writesOf(store: KvStore): WritableStore {
  return { set: (key, value) => store.set(key, value), delete: (key) => store.delete(key) };
}

export function storeView(decl: KvStoreDecl, backend: Backend, location: StoreLocation, mainStore: KvStore | undefined): StoreView {
  return {
    name: decl.name,
    backend: decl.backend,
    replication: () => (mainStore && 'replication' in mainStore ? (mainStore as ReplicatedKvStore).replication() : undefined),
    async read(use) {
      if (backend.runsIn === 'main') return use(mainStore ? readsOf(mainStore) : EMPTY);
      if (!backend.exists(location)) return use(EMPTY);
      const store = backend.open(location);
      try {
        return await use({ get: async (key) => store.get(key), listKeys: async (prefix, after, limit) => store.listKeys(prefix, after, limit) });
      } finally {
        store.close();
      }
    },
    async write(use) {
      if (backend.runsIn === 'main') return use(writesOf(mainStore!));
      const store = backend.open(location);
      try {
        return await use({ set: async (key, value) => store.set(key, value), delete: async (key) => store.delete(key) });
      } finally {
        store.close();
      }
    },
  };
}
