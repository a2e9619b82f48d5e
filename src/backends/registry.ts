/**
 * Every store backend, in one literal map, each with where it runs and its options schema. A
 * `worker` backend is opened synchronously inside each worker (SQLite: a file every worker can
 * open); a `main` backend lives once on the main thread and is reached over the host bridge
 * (memory, NATS; later Redis: their clients are asynchronous). Nothing else in Verge tests a
 * backend's name.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Fields, ManifestProblems } from '../manifest/fields.js';
import type { KvStore, SyncKvStore } from './store.js';
import { createMemoryStore } from './memory/memory-store.js';
import { openSqliteStore } from './sqlite/sqlite-store.js';
import { openRedisStore, readRedisStoreOptions } from './redis/index.js';
import { defaultBucket, openNatsStore, readNatsStoreOptions, type NatsStoreOptions } from './nats/index.js';
import { defaultStream, openReplicatedStore, readReplicatedStoreOptions, replicaFile, type ReplicatedStoreOptions } from './replicated/index.js';

/** Where one app's store lives, resolved on the main thread and handed to whoever opens it. */
export interface StoreLocation {
  /** A file path (SQLite), a URL (Redis, NATS; it may hold a password: it stays on the main thread), or undefined (memory). */
  address: string | undefined;
  /** The backend's options, for a backend that needs them to open the store (Redis, NATS). */
  options?: Readonly<Record<string, unknown>>;
  /** The manifest table, for errors: `key_value_stores.cache`. */
  where?: string;
  /** The NATS key-value bucket holding the store; for a replicated store, its JetStream stream. */
  bucket?: string;
  /** A replicated store's local replica file. */
  file?: string;
  /** The app and store, for a replicated store's metrics. */
  labels?: { app: string; store: string };
}

interface BackendBase {
  /** Reads the backend's own keys of `[key_value_stores.NAME]` (beyond `backend`); unknown keys are refused by the caller. */
  readOptions(t: Fields, problems: ManifestProblems): Readonly<Record<string, unknown>>;
  /** Where the store `name` of the app in `appDir` lives, given the node's data dir. */
  locate(ctx: {
    /** The app's name (a NATS store's default bucket is named after it). */
    app: string;
    appDir: string;
    dataDir: string;
    name: string;
    options: Readonly<Record<string, unknown>>;
    /** Fills `{{ variable }}` references in an option (variables/template.ts); `key` names the option in errors. */
    expand: (text: string, key: string) => string;
  }): StoreLocation;
}

export interface WorkerBackend extends BackendBase {
  runsIn: 'worker';
  open(location: StoreLocation): SyncKvStore;
  /** Something was stored there already: a read-only look (the dashboard) must not create the store. */
  exists(location: StoreLocation): boolean;
}

export interface MainBackend extends BackendBase {
  runsIn: 'main';
  open(location: StoreLocation): KvStore;
}

export type Backend = WorkerBackend | MainBackend;

const noOptions = (): Readonly<Record<string, unknown>> => Object.freeze({});

const sqlite: WorkerBackend = {
  runsIn: 'worker',
  // `path`: the store's file, relative to the app folder (a Spin runtime config's `type = "spin"` store sets it).
  readOptions: (t) => {
    const file = t.string('path', { expected: 'a file path, relative to the app folder' });
    return Object.freeze(file === undefined ? {} : { path: file });
  },
  locate: ({ appDir, dataDir, name, options }) => ({
    address: typeof options.path === 'string' ? path.resolve(appDir, options.path) : path.join(path.resolve(appDir, dataDir), `${name}.sqlite`),
  }),
  open: ({ address }) => openSqliteStore(address!),
  exists: ({ address }) => address !== undefined && existsSync(address),
};

const memory: MainBackend = {
  runsIn: 'main',
  readOptions: noOptions,
  locate: () => ({ address: undefined }),
  open: () => createMemoryStore(),
};

const redis: MainBackend = {
  runsIn: 'main',
  readOptions: readRedisStoreOptions,
  locate: ({ name, options, expand }) => ({ address: expand(options.url as string, 'url'), options, where: `key_value_stores.${name}` }),
  open: ({ address, options, where }) => openRedisStore(address!, options!, where!),
};


const nats: MainBackend = {
  runsIn: 'main',
  readOptions: readNatsStoreOptions,
  locate: ({ app, name, options, expand }) => ({
    address: expand((options as unknown as NatsStoreOptions).url, 'url'),
    options,
    where: `key_value_stores.${name}`,
    bucket: (options as unknown as NatsStoreOptions).bucket ?? defaultBucket(app, name),
  }),
  open: ({ address, options, where, bucket }) => openNatsStore(address!, bucket!, options!, where!),
};

// A local SQLite replica on the main thread (the link to JetStream lives there too), synced through a stream.
const replicated: MainBackend = {
  runsIn: 'main',
  readOptions: readReplicatedStoreOptions,
  locate: ({ app, appDir, dataDir, name, options, expand }) => {
    const o = options as unknown as ReplicatedStoreOptions;
    return {
      address: expand(o.url, 'url'),
      options,
      where: `key_value_stores.${name}`,
      bucket: o.stream ?? defaultStream(app, name),
      file: replicaFile(appDir, dataDir, name, o),
      labels: { app, store: name },
    };
  },
  open: ({ address, options, where, bucket, file, labels }) => openReplicatedStore(address!, file!, bucket!, options!, where!, labels!),
};

export const BACKENDS = { sqlite, memory, redis, nats, replicated } as const;

export type BackendName = keyof typeof BACKENDS;
export const BACKEND_NAMES = Object.keys(BACKENDS) as BackendName[];
export const DEFAULT_BACKEND: BackendName = 'sqlite';

export function backend(name: BackendName): Backend {
  return BACKENDS[name];
}
