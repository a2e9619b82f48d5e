/**
 * The `redis` key-value backend as registry.ts lists it: its options in
 * `[key_value_stores.NAME]`, where the store lives (its URL, variables filled in) and how it opens.
 *
 *   [key_value_stores.cache]
 *   backend = "redis"
 *   url = "redis://:{{ redis_password }}@cache.internal:6379/0"   # or rediss:// for TLS
 *   prefix = "myapp:"        # optional: prepended to every key (default: none)
 *   timeout_ms = 5000        # optional: each call, connecting included
 *   max_connections = 16     # optional: the pool's size
 */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { templateReferences } from '../../capabilities/variables/template.js';
import { VergeError } from '../../errors.js';
import type { KvStore } from '../store.js';
import { parseRedisAddress } from './address.js';
import { REDIS_STORE_DEFAULTS, createRedisStore } from './redis-store.js';

export interface RedisStoreOptions {
  /** The URL as written: `{{ variable }}` references are filled in when a version is prepared. */
  readonly url: string;
  /** Variables the URL refers to (checked against [variables] when the manifest loads). */
  readonly variables: readonly string[];
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly maxConnections: number;
}

export function readRedisStoreOptions(t: Fields, problems: ManifestProblems): Readonly<Record<string, unknown>> {
  const { url, variables } = readRedisUrl(t, problems);
  const prefix = t.value('prefix');
  if (prefix !== undefined && typeof prefix !== 'string') problems.add(t.keyPath('prefix'), 'expected a string to prepend to every key, such as "myapp:"');
  const timeoutMs = t.integer('timeout_ms', { min: 1, max: 600_000, unit: 'milliseconds for one call' });
  const maxConnections = t.integer('max_connections', { min: 1, max: 1024, unit: 'connections' });
  const options: RedisStoreOptions = {
    url: url ?? '',
    variables: Object.freeze(variables),
    prefix: typeof prefix === 'string' ? prefix : '',
    timeoutMs: timeoutMs ?? REDIS_STORE_DEFAULTS.timeoutMs,
    maxConnections: maxConnections ?? REDIS_STORE_DEFAULTS.maxConnections,
  };
  return Object.freeze(options) as unknown as Readonly<Record<string, unknown>>;
}

/**
 * A table's `url`: a Redis URL, perhaps with `{{ variable }}` references (checked against
 * [variables] by the caller's manifest check). Without references it is parsed now; with them,
 * once they are filled in. No message repeats the URL: it may hold a password.
 */
export function readRedisUrl(t: Fields, problems: ManifestProblems): { url: string | undefined; variables: string[] } {
  const url = t.string('url', { required: true, expected: 'a Redis URL such as "redis://host:6379" or "rediss://:{{ password }}@host:6380/0"' });
  if (url === undefined) return { url, variables: [] };
  const refs = templateReferences(url);
  if (!Array.isArray(refs)) {
    problems.add(t.keyPath('url'), `expected ${refs.expected}`);
    return { url, variables: [] };
  }
  const parsed = refs.length === 0 ? parseRedisAddress(url) : undefined;
  if (typeof parsed === 'string') problems.add(t.keyPath('url'), `expected ${parsed}`);
  return { url, variables: refs };
}

/** Opens the store at `url` (variables filled in); `where` names the manifest table in errors. */
export function openRedisStore(url: string, options: Readonly<Record<string, unknown>>, where: string): KvStore {
  const o = options as unknown as RedisStoreOptions;
  const address = parseRedisAddress(url);
  // The message never shows the URL: it may hold a password.
  if (typeof address === 'string') throw new VergeError('MANIFEST_INVALID', `${where}.url: expected ${address} once its variables are filled in`);
  return createRedisStore({ address, prefix: o.prefix, timeoutMs: o.timeoutMs, maxConnections: o.maxConnections, idleTimeoutMs: REDIS_STORE_DEFAULTS.idleTimeoutMs });
}
