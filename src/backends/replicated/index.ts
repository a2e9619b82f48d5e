/**
 * The `replicated` key-value backend as registry.ts lists it: its options, where its replica file
 * and stream are, and how it opens.
 *
 *   [key_value_stores.stats]
 *   backend = "replicated"
 *   url = "nats://127.0.0.1:4222"   # the JetStream changes flow through; tls:// and a list as for nats
 *   stream = "sensor-stats"         # optional: default verge_<app>_REPL_<store>
 *   replicas = 3                    # optional: copies of the stream (default 1)
 *   path = "stats.replica.sqlite"   # optional: the local replica, relative to the app folder
 *   tombstone_retention_s = 604800  # optional: how long a delete is remembered (default 7 days)
 *   timeout_ms = 5000               # optional: each NATS call of the link (never a guest's call)
 */
import path from 'node:path';
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { VergeError } from '../../errors.js';
import type { KvStore } from '../store.js';
import { parseNatsAddress } from '../nats/address.js';
import { readNatsUrl } from '../nats/index.js';
import { REPLICATED_STORE_DEFAULTS } from './defaults.js';
import { createReplicatedStore } from './replicated-store.js';

export interface ReplicatedStoreOptions {
  readonly url: string;
  readonly variables: readonly string[];
  readonly stream: string | undefined;
  readonly replicas: number;
  readonly path: string | undefined;
  readonly tombstoneRetentionS: number;
  readonly timeoutMs: number;
}

const STREAM = /^[-\w]{1,200}$/;

/** `verge_<app>_REPL_<store>`: app and store names are lowercase, so no two pairs share a stream. */
export function defaultStream(app: string, store: string): string {
  return `verge_${app}_REPL_${store}`;
}

export function readReplicatedStoreOptions(t: Fields, problems: ManifestProblems): Readonly<Record<string, unknown>> {
  const { url, variables } = readNatsUrl(t, problems);
  const options: ReplicatedStoreOptions = {
    url,
    variables,
    stream: t.string('stream', { pattern: STREAM, expected: 'a stream name of letters, digits, "-" and "_" (at most 200)' }),
    replicas: t.integer('replicas', { min: 1, max: 5, unit: 'copies of the stream (one per NATS server)' }) ?? REPLICATED_STORE_DEFAULTS.replicas,
    path: t.string('path', { expected: 'a file path for the local replica, relative to the app folder' }),
    tombstoneRetentionS: t.integer('tombstone_retention_s', { min: 1, max: 10 * 365 * 24 * 3600, unit: 'seconds a delete is remembered' }) ?? REPLICATED_STORE_DEFAULTS.tombstoneRetentionS,
    timeoutMs: t.integer('timeout_ms', { min: 1, max: 600_000, unit: 'milliseconds for one NATS call' }) ?? REPLICATED_STORE_DEFAULTS.timeoutMs,
  };
  return Object.freeze(options) as unknown as Readonly<Record<string, unknown>>;
}

/** The replica file of store `name`: its `path`, or `<name>.replica.sqlite` in the data dir. */
export function replicaFile(appDir: string, dataDir: string, name: string, options: ReplicatedStoreOptions): string {
  return options.path !== undefined ? path.resolve(appDir, options.path) : path.join(path.resolve(appDir, dataDir), `${name}.replica.sqlite`);
}

/** Opens the store: its replica at `file`, linked through `url` (variables filled in) to `stream`. */
export function openReplicatedStore(url: string, file: string, stream: string, options: Readonly<Record<string, unknown>>, where: string, labels: { app: string; store: string }): KvStore {
  const o = options as unknown as ReplicatedStoreOptions;
  const address = parseNatsAddress(url);
  // The message never shows the URL: it may hold a password.
  if (typeof address === 'string') throw new VergeError('MANIFEST_INVALID', `${where}.url: expected ${address} once its variables are filled in`);
  return createReplicatedStore({
    file,
    labels,
    link: { address, stream, subjectPrefix: `verge.repl.${stream}`, replicas: o.replicas, timeoutMs: o.timeoutMs, tombstoneRetentionMs: o.tombstoneRetentionS * 1000 },
  });
}
