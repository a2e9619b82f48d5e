/**
 * `verge kv list|get|set|delete`: an app's key-value stores from the command line, like
 * `wrangler kv key`. Two ways in, one session shape:
 *
 * - locally, the store files `verge up` uses: the same backend code and the same path rule
 *   (capabilities/kv/locate.ts), so the CLI and a node agree on where data lives. A node may run
 *   at the same time: SQLite's WAL lets this reader in while it writes, and a write waits out the
 *   busy timeout. A memory store lives only inside a running node: refused, pointing at --from.
 * - through a running node's admin API (--from URL, with its token), the dashboard's store calls;
 *   writes need the node's --kv-writes.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HostCallError } from '../capabilities/abi.js';
import { checkKey, checkValue } from '../capabilities/kv/checks.js';
import { locateStore } from '../capabilities/kv/locate.js';
import { BACKENDS } from '../backends/registry.js';
import type { SyncKvStore } from '../backends/store.js';
import { loadManifest } from '../manifest/load.js';
import { hexDump, viewValue } from '../dashboard/kv-value.js';
import { AdminCallError, call, type AdminTarget } from './admin-client.js';

/** Keys per page when `list` follows the cursor to the end (the admin API's most per page). */
export const KV_LIST_PAGE = 1000;

/** A refusal the user can act on: printed as is, exit code 1. */
export class KvCliError extends Error {}

export interface KvPage {
  keys: string[];
  /** The cursor of the next page (the last key of this one), or null at the end. */
  next: string | null;
}

export interface KvSession {
  /** Who answers, for messages: the store and where it is. */
  readonly where: string;
  list(prefix: string, after: string | undefined, limit: number): Promise<KvPage>;
  get(key: string): Promise<Uint8Array | undefined>;
  set(key: string, value: Uint8Array): Promise<void>;
  /** Resolves false when there was no such key. */
  delete(key: string): Promise<boolean>;
  close(): void;
}

/** The same named limits a guest has (capabilities/kv/limits.ts), so the CLI stores nothing a guest could not. */
export function checkInput(key: string, value?: Uint8Array): void {
  try {
    checkKey(key, 'verge kv');
    if (value) checkValue(value, 'verge kv');
  } catch (err) {
    if (err instanceof HostCallError) throw new KvCliError(err.message);
    throw err;
  }
}

export function openLocalKv(opts: { app: string; dataDir: string; store: string }): KvSession {
  const app = loadManifest(opts.app);
  const decl = app.keyValueStores.get(opts.store);
  if (!decl) {
    throw new KvCliError(`app ${app.name} (${app.file}) has no key-value store named ${JSON.stringify(opts.store)}; its stores: ${[...app.keyValueStores.keys()].join(', ')}`);
  }
  // Checked before locating: a Redis store's URL may name variables this command does not have.
  const backend = BACKENDS[decl.backend];
  if (backend.runsIn === 'main') {
    throw new KvCliError(
      `store ${decl.name} of app ${app.name} is a ${decl.backend} store: it lives only inside a running node, with no file to open; ` +
        'reach it through the node: verge kv ... --from ADMIN_URL (verge up --admin 127.0.0.1:9090)',
    );
  }
  const { location } = locateStore(decl, app, opts.dataDir, () => {
    throw new KvCliError(`store ${decl.name} has options that name variables; only a main-thread store has such options`);
  });
  let store: SyncKvStore | undefined;
  // Reading a store nothing has written yet must not create its file (as the dashboard's browser).
  const opened = (create: boolean): SyncKvStore | undefined => {
    if (!store && (create || backend.exists(location))) store = backend.open(location);
    return store;
  };
  return {
    where: `store ${decl.name} (${location.address ?? decl.backend})`,
    list: async (prefix, after, limit) => pageOf(opened(false)?.listKeys(prefix, after, limit + 1) ?? [], limit),
    get: async (key) => opened(false)?.get(key),
    set: async (key, value) => opened(true)!.set(key, value),
    delete: async (key) => opened(false)?.delete(key) ?? false,
    close: () => store?.close(),
  };
}

/** One more key than asked tells whether another page follows. */
function pageOf(found: string[], limit: number): KvPage {
  const keys = found.slice(0, limit);
  return { keys, next: found.length > limit ? keys.at(-1)! : null };
}

/**
 * The app whose stores a node is asked about: --app as a manifest path or folder (its name), or
 * as a name; else ./verge.toml's app; else the node's only app.
 */
export async function remoteAppName(target: AdminTarget, app: string | undefined): Promise<string> {
  if (app !== undefined) return isManifestPath(app) ? loadManifest(app).name : app;
  if (existsSync('verge.toml')) return loadManifest('.').name;
  const { body } = await call<{ apps?: string[] }>(target, '/v1/node');
  const apps = body.apps ?? [];
  if (apps.length === 1) return apps[0]!;
  throw new KvCliError(apps.length === 0 ? `the node at ${target.url.origin} serves no app` : `the node at ${target.url.origin} serves ${apps.join(', ')}: choose one with --app NAME`);
}

function isManifestPath(p: string): boolean {
  return existsSync(p) && (p.endsWith('.toml') || existsSync(path.join(p, 'verge.toml')));
}

export function remoteKv(target: AdminTarget, app: string, store: string): KvSession {
  const base = `/v1/apps/${encodeURIComponent(app)}/stores/${encodeURIComponent(store)}/keys`;
  const keyPath = (key: string) => `${base}/${encodeURIComponent(key)}`;
  const missing = async <T>(run: () => Promise<T>, absent: T): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof AdminCallError && err.code === 'KV_KEY_NOT_FOUND') return absent;
      throw err;
    }
  };
  return {
    where: `store ${store} of app ${app} on ${target.url.origin}`,
    async list(prefix, after, limit) {
      const q = new URLSearchParams({ prefix, limit: String(limit) });
      if (after !== undefined) q.set('after', after);
      return (await call<KvPage>(target, `${base}?${q}`)).body;
    },
    get: (key) => missing(async () => Buffer.from((await call<{ base64: string }>(target, `${keyPath(key)}?encoding=base64`)).body.base64, 'base64'), undefined),
    set: async (key, value) => void (await call(target, keyPath(key), { method: 'PUT', body: Buffer.from(value) })),
    delete: (key) => missing(async () => (await call(target, keyPath(key), { method: 'DELETE' }), true), false),
    close: () => {},
  };
}

/** Every key from `after` on, following the cursor page by page. */
export async function* allKeys(kv: KvSession, prefix: string, after: string | undefined, pageSize = KV_LIST_PAGE): AsyncGenerator<string> {
  let cursor = after;
  for (;;) {
    const page = await kv.list(prefix, cursor, pageSize);
    yield* page.keys;
    if (page.next === null) return;
    cursor = page.next;
  }
}

/** A key as one line of `list`: as is, or JSON-quoted when it holds a control character (a newline would split it). */
export function keyLine(key: string): string {
  return /[\u0000-\u001f\u007f]/.test(key) ? JSON.stringify(key) : key;
}

/** The bytes `set` stores: the argument or the file; with `json`, refused unless it parses. */
export function valueToStore(opts: { value: string | undefined; file: Buffer | undefined; json: boolean }): Uint8Array {
  if ((opts.value === undefined) === (opts.file === undefined)) throw new KvCliError('give the value as an argument or --file PATH (one of the two)');
  const bytes = opts.file ?? Buffer.from(opts.value!, 'utf8');
  if (opts.json) parseJson(bytes, 'the value');
  return new Uint8Array(bytes);
}

export type ValueOutput = { bytes: Uint8Array; note?: string };

/**
 * What `get` prints. Text as stored; `json` pretty-printed (refused if it is not JSON); binary as a
 * hex dump on a terminal (raw bytes would garble it) or with `hex`, else the bytes as they are, so
 * `verge kv get KEY > file` keeps them.
 */
export function valueOutput(value: Uint8Array, opts: { json: boolean; hex: boolean; tty: boolean }): ValueOutput {
  if (opts.json) return { bytes: Buffer.from(JSON.stringify(parseJson(value, 'the value'), null, 2) + '\n') };
  const binary = viewValue(value).kind === 'binary';
  if (opts.hex || (binary && opts.tty)) {
    const note = binary && !opts.hex ? `binary value, ${value.length} bytes, shown as hex; --out FILE writes the bytes` : undefined;
    return { bytes: Buffer.from(hexDump(value) + '\n'), ...(note ? { note } : {}) };
  }
  // On a terminal the prompt should not land on the value's last line.
  const newline = opts.tty && value.length > 0 && value[value.length - 1] !== 0x0a;
  return { bytes: newline ? Buffer.concat([value, Buffer.from('\n')]) : value };
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw new KvCliError(`${what} is not JSON (${(err as Error).message}); leave out --json to use it as it is`);
  }
}
