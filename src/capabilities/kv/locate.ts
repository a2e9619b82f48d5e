/**
 * Where an app's store lives: one rule for the node (definition.ts) and for `verge kv` opening
 * the same files beside it (src/cli/kv.ts), so the two never disagree about the data.
 */
import { BACKENDS, type Backend, type StoreLocation } from '../../backends/registry.js';
import type { KvStoreDecl } from './schema.js';

/** `expand` fills `{{ variable }}` references in the store's options (a Redis URL's password). */
export function locateStore(decl: KvStoreDecl, appDir: string, dataDir: string, expand: Parameters<Backend['locate']>[0]['expand']): { backend: Backend; location: StoreLocation } {
  const backend = BACKENDS[decl.backend];
  return { backend, location: backend.locate({ appDir, dataDir, name: decl.name, options: decl.options, expand }) };
}
