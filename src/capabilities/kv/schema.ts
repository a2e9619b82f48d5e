/** The key-value part of verge.toml: `[key_value_stores.NAME]` at app level, grants per component. */
import { isTable, tomlKey, type Fields, type ManifestProblems } from '../../manifest/fields.js';
import { BACKENDS, BACKEND_NAMES, DEFAULT_BACKEND, type BackendName } from '../../backends/registry.js';
import { checkTemplateVariables } from '../variables/template.js';

export interface KvStoreDecl {
  name: string;
  backend: BackendName;
  /** The backend's own options, read by its schema in backends/registry.ts. */
  options: Readonly<Record<string, unknown>>;
}

/** The store every app has without declaring it (Spin's convention). */
export const DEFAULT_STORE: KvStoreDecl = Object.freeze({ name: 'default', backend: DEFAULT_BACKEND, options: Object.freeze({}) });
const STORE_NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;

export function readKeyValueStores(root: Fields, problems: ManifestProblems): Map<string, KvStoreDecl> {
  const stores = new Map<string, KvStoreDecl>([[DEFAULT_STORE.name, DEFAULT_STORE]]);
  // The names only, to check `{{ variable }}` references: the variables capability reads the table itself.
  const declared = isTable(root.raw.variables) ? new Set(Object.keys(root.raw.variables)) : new Set<string>();
  for (const [name, t] of root.tables('key_value_stores')) {
    if (!STORE_NAME.test(name)) problems.add(t.path, 'the store name is not valid: expected lowercase letters, digits, "-" and "_"');
    const chosen = t.string('backend', { pattern: new RegExp(`^(${BACKEND_NAMES.join('|')})$`), expected: `one of ${BACKEND_NAMES.map((b) => `"${b}"`).join(', ')}` });
    const backend = (chosen as BackendName | undefined) ?? DEFAULT_BACKEND;
    const options = BACKENDS[backend].readOptions(t, problems);
    const refs = Array.isArray(options.variables) ? (options.variables as string[]) : [];
    for (const v of refs.filter((v) => !declared.has(v))) problems.add(t.keyPath('url'), `names {{ ${v} }}, but no variable ${JSON.stringify(v)} is declared in [variables]`);
    t.done();
    stores.set(name, Object.freeze({ name, backend, options }));
  }
  // One file is one store: two names on it would read each other's keys.
  const byPath = new Map<string, string>();
  for (const s of stores.values()) {
    if (typeof s.options.path !== 'string') continue;
    const other = byPath.get(s.options.path);
    if (other !== undefined) problems.add(`key_value_stores.${tomlKey(s.name)}.path`, `${JSON.stringify(s.options.path)} is store ${other}'s file too: expected a file of its own`);
    byPath.set(s.options.path, s.name);
  }
  return stores;
}

/** `key_value_stores = [...]` on a component: every label must be a store the app has. */
export function readStoreGrants(c: Fields, stores: ReadonlyMap<string, KvStoreDecl>): string[] {
  return c.grantList('key_value_stores', stores, {
    expected: 'a store name',
    missing: (name) => `no store ${JSON.stringify(name)}: use "default" or declare [key_value_stores.${tomlKey(name)}]`,
  });
}

/** A store option's `{{ variable }}` references (a Redis URL's password) must name declared variables. */
export function checkStoreVariables(stores: ReadonlyMap<string, KvStoreDecl>, variables: ReadonlyMap<string, unknown>, problems: ManifestProblems): void {
  for (const decl of stores.values()) {
    const refs = decl.options.variables;
    if (Array.isArray(refs)) checkTemplateVariables(`key_value_stores.${tomlKey(decl.name)}.url`, refs as string[], variables, problems);
  }
}
