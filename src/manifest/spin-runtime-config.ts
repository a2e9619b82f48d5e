/**
 * A Spin runtime config file (`--runtime-config-file`), for a spin.toml: its key-value stores
 * become [key_value_stores.LABEL] of the translated verge.toml. `type = "spin"` is SQLite, at
 * `path` (relative to the runtime config file, as in Spin) or, without one, in Verge's data dir;
 * `type = "redis"` is a Redis store at its `url`.
 * Every other table and store type is refused by key path.
 */
import path from 'node:path';
import { Fields, ManifestProblems, describe, tomlKey, type TomlTable } from './fields.js';
import { parseTomlText, readManifestText } from './load.js';
import type { SourceMap } from './spin.js';

const SUPPORTED = '"spin" (SQLite) or "redis"';

export function readRuntimeConfig(file: string, manifestDir: string, problems: ManifestProblems, map: SourceMap): TomlTable {
  const abs = path.resolve(file);
  const doc = parseTomlText(readManifestText(abs), abs);
  // Problems in this file are placed in it, then join the manifest's.
  const own = new ManifestProblems(abs);
  const root = new Fields(own, '', doc);
  const stores: TomlTable = {};
  for (const [label, t] of root.tables('key_value_store')) {
    const type = t.string('type', { required: true, expected: SUPPORTED });
    const at = `key_value_stores.${tomlKey(label)}`;
    map.add(at, { file: abs, path: t.path });
    map.add(`${at}.backend`, { file: abs, path: t.keyPath('type') });
    if (type === 'spin') {
      const p = t.value('path');
      const store: TomlTable = { backend: 'sqlite' };
      if (typeof p === 'string' && p.length > 0) store.path = path.relative(manifestDir, path.resolve(path.dirname(abs), p)).split(path.sep).join('/') || '.';
      else if (p !== undefined) own.add(t.keyPath('path'), `expected a file path, relative to the runtime config file, got ${describe(p)}`);
      stores[label] = store;
    } else if (type === 'redis') {
      // Spin's Redis store keeps each key as it is, as a Verge Redis store without a prefix does: both read the same keys.
      const url = t.string('url', { required: true, expected: 'a Redis URL such as "redis://localhost:6379"' });
      map.add(`${at}.url`, { file: abs, path: t.keyPath('url') });
      if (url !== undefined) stores[label] = { backend: 'redis', url };
    } else if (type !== undefined) {
      own.add(t.keyPath('type'), `${JSON.stringify(type)} is not supported: expected ${SUPPORTED}`);
    }
    // Only a store of a supported type has its other keys checked: one problem per store is enough.
    if (type === 'spin' || type === 'redis') t.done();
  }
  for (const key of Object.keys(doc)) {
    if (key === 'key_value_store') continue;
    root.value(key);
    own.add(tomlKey(key), `is not supported: Verge reads only [key_value_store.LABEL] tables from a Spin runtime config`);
  }
  problems.items.push(...own.items);
  return stores;
}
