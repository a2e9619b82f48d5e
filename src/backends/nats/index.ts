/**
 * The `nats` key-value backend as registry.ts lists it: its options in `[key_value_stores.NAME]`,
 * where the store lives (its URL, variables filled in; its bucket) and how it opens.
 *
 *   [key_value_stores.cache]
 *   backend = "nats"
 *   url = "nats://verge:{{ nats_password }}@127.0.0.1:4222"   # tls:// for TLS; a comma-separated list for a cluster
 *   bucket = "edge-cache"    # optional: default verge_<app>_KV_<store>
 *   replicas = 3             # optional: 1 to 5 copies of the bucket's stream (default 1)
 *   timeout_ms = 5000        # optional: each call, connecting included
 */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { templateReferences } from '../../capabilities/variables/template.js';
import { VergeError } from '../../errors.js';
import { StoreError, type KvStore } from '../store.js';
import { parseNatsAddress } from './address.js';
import { NATS_STORE_DEFAULTS } from './defaults.js';

export interface NatsStoreOptions {
  /** The URL as written: `{{ variable }}` references are filled in when a version is prepared. */
  readonly url: string;
  /** Variables the URL refers to (checked against [variables] when the manifest loads). */
  readonly variables: readonly string[];
  /** The bucket as written, or undefined for the default named after the app and the store. */
  readonly bucket: string | undefined;
  readonly replicas: number;
  readonly timeoutMs: number;
}

/** A bucket name NATS accepts (the stream is `KV_<bucket>`). */
const BUCKET = /^[-\w]{1,200}$/;

/**
 * `verge_<app>_KV_<store>`: app and store names are lowercase, so the uppercase `KV` cannot come
 * from either and two (app, store) pairs never share a bucket.
 */
export function defaultBucket(app: string, store: string): string {
  return `verge_${app}_KV_${store}`;
}

/** A store's `url` key (a NATS URL, `{{ variable }}` references allowed) and the variables it names. */
export function readNatsUrl(t: Fields, problems: ManifestProblems): { url: string; variables: readonly string[] } {
  const url = t.string('url', { required: true, expected: 'a NATS URL such as "nats://127.0.0.1:4222" or "tls://user:{{ nats_password }}@nats.internal:4222"' });
  let variables: string[] = [];
  if (url !== undefined) {
    const refs = templateReferences(url);
    if (!Array.isArray(refs)) problems.add(t.keyPath('url'), `expected ${refs.expected}`);
    else {
      variables = refs;
      // Without variables the URL is checked now; with them, once they are filled in.
      const parsed = refs.length === 0 ? parseNatsAddress(url) : undefined;
      if (typeof parsed === 'string') problems.add(t.keyPath('url'), `expected ${parsed}`);
    }
  }
  return { url: url ?? '', variables: Object.freeze(variables) };
}

export function readNatsStoreOptions(t: Fields, problems: ManifestProblems): Readonly<Record<string, unknown>> {
  const { url, variables } = readNatsUrl(t, problems);
  const bucket = t.string('bucket', { pattern: BUCKET, expected: 'a bucket name of letters, digits, "-" and "_" (at most 200)' });
  const replicas = t.integer('replicas', { min: 1, max: 5, unit: 'copies of the bucket (one per NATS server)' });
  const timeoutMs = t.integer('timeout_ms', { min: 1, max: 600_000, unit: 'milliseconds for one call' });
  const options: NatsStoreOptions = {
    url,
    variables,
    bucket,
    replicas: replicas ?? NATS_STORE_DEFAULTS.replicas,
    timeoutMs: timeoutMs ?? NATS_STORE_DEFAULTS.timeoutMs,
  };
  return Object.freeze(options) as unknown as Readonly<Record<string, unknown>>;
}

/** Opens the store at `url` (variables filled in) in `bucket`; `where` names the manifest table in errors. */
export function openNatsStore(url: string, bucket: string, options: Readonly<Record<string, unknown>>, where: string): KvStore {
  const o = options as unknown as NatsStoreOptions;
  const address = parseNatsAddress(url);
  // The message never shows the URL: it may hold a password.
  if (typeof address === 'string') throw new VergeError('MANIFEST_INVALID', `${where}.url: expected ${address} once its variables are filled in`);
  return lazyStore(async () => (await import('./nats-store.js')).createNatsStore({ address, bucket, replicas: o.replicas, timeoutMs: o.timeoutMs }), `nats store (bucket ${bucket} at ${address.shown})`);
}

/**
 * The store, made on its first call: the NATS client (a few MB of JavaScript) is loaded only by a
 * node that uses a nats store, not by every node that starts (start-up time, issue 17).
 */
function lazyStore(make: () => Promise<KvStore>, where: string): KvStore {
  let store: Promise<KvStore> | undefined;
  let closed = false;
  const open = (): Promise<KvStore> => {
    if (closed) return Promise.reject(new StoreError('UNAVAILABLE', `${where} is closed`));
    return (store ??= make());
  };
  return {
    kind: 'nats',
    get: async (key) => (await open()).get(key),
    set: async (key, value) => (await open()).set(key, value),
    delete: async (key) => (await open()).delete(key),
    exists: async (key) => (await open()).exists(key),
    listKeys: async (prefix, after, limit) => (await open()).listKeys(prefix, after, limit),
    increment: async (key, delta) => (await open()).increment(key, delta),
    compareAndSwap: async (key, expected, value) => (await open()).compareAndSwap(key, expected, value),
    async close() {
      closed = true;
      if (store) await (await store).close();
    },
  };
}
