/**
 * Loads one of the bundle's CommonJS files (dist/bundle/, scripts/bundle.ts) through a V8 code
 * cache, as Node 22's `module.enableCompileCache` does and Node 20 cannot for ES modules. Most of a
 * thread's start-up was V8 parsing the bundle's source (cpu-prof: compiling the CLI's ~750 KB was
 * a third of the main thread's time to its first answer, and each worker did the same for its
 * own ~300 KB); with a cache, V8 deserializes the bytecode of every function the last start
 * compiled instead.
 *
 * The cache is a file per bundle file, named by the SHA-256 of the source it was made from and by
 * node's version and architecture, in `<verge cache dir>/code-cache/`. V8 checks the rest (its own
 * version and flags) and rejects a cache that does not fit, which is then made again. A file that
 * cannot be read or written (a read-only home) only means no cache: the source is compiled as
 * before. A cache is written when none fitted: right after the file's top-level code has run (so
 * it holds everything compiled while loading, and a start cut short still leaves one), and again a
 * second later with what the thread compiled since (the CLI's start-up and the first requests:
 * spawn → first 200 was ~10 ms shorter with that cache than with the first one). A cache that fits
 * is never written.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import { vergeCacheDir } from './cache-dir.js';
import { installImportHook } from './dynamic-import.js';

/** What happened to a file's code cache on this load ('unsaved': none fitted and none could be written; 'off': no cache folder). */
export type CacheOutcome = 'used' | 'made' | 'rejected' | 'unsaved' | 'off';

export interface LoadedBundle {
  exports: unknown;
  cache: CacheOutcome;
  /** The cache file, when there is a cache folder. */
  cacheFile: string | undefined;
}

// Code compiled from a cache has no `import()` of its own (src/dynamic-import.ts): it uses this module's.
installImportHook((specifier) => import(specifier));

// The CommonJS wrapper, with the file's first line on a line of its own so that stack traces
// keep the bundle's own line and column numbers (lineOffset -1 below).
const PARAMS = ['exports', 'require', 'module', '__filename', '__dirname'] as const;
const HEAD = `(function (${PARAMS.join(', ')}) {\n`;
const TAIL = '\n})';

/** How long after a load that made a cache it is made again, with what was compiled since. */
export const REWRITE_AFTER_MS = 1000;

/**
 * Each build of Verge (and each node version) has caches of its own. When a cache is made, the
 * same file's caches that no start has used for this long are deleted (a used cache is touched,
 * at most daily), so the folder holds what recent starts use, not every build ever run.
 */
export const UNUSED_FOR_MS = 7 * 24 * 3600 * 1000;
const TOUCH_EVERY_MS = 24 * 3600 * 1000;

/**
 * Runs `file` (a CommonJS bundle file) as node would `require` it, compiled with its code cache
 * when there is one that fits, and returns its exports. `VERGE_CODE_CACHE=0` turns the cache off.
 */
export function loadBundle(file: string, env: NodeJS.ProcessEnv = process.env, rewriteAfterMs = REWRITE_AFTER_MS): LoadedBundle {
  const bytes = readFileSync(file);
  const root = env.VERGE_CODE_CACHE === '0' ? undefined : vergeCacheDir(env);
  const cacheFile = root === undefined ? undefined : path.join(root, 'code-cache', `${path.basename(file, '.cjs')}-${createHash('sha256').update(bytes).digest('hex').slice(0, 20)}-${process.version}-${process.arch}.bin`);
  let cachedData: Buffer | undefined;
  if (cacheFile !== undefined) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // No cache yet (or none readable): compile from source and make one.
    }
  }
  const script = new vm.Script(HEAD + bytes.toString('utf8') + TAIL, {
    filename: file,
    lineOffset: -1,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  let cache: CacheOutcome = 'off';
  if (cacheFile !== undefined) {
    cache = cachedData === undefined ? 'made' : script.cachedDataRejected === true ? 'rejected' : 'used';
    if (cache === 'used') touch(cacheFile);
    else if (writeCache(cacheFile, script.createCachedData())) {
      setTimeout(() => writeCache(cacheFile, script.createCachedData()), rewriteAfterMs).unref();
      pruneUnused(cacheFile, path.basename(file, '.cjs'));
    } else cache = 'unsaved';
  }
  return { exports: module.exports, cache, cacheFile };
}

const loaded = new Map<string, unknown>();

/**
 * `loadBundle(file).exports`, once per thread: what bin/verge.js, the thread entries and the
 * bundle's own files (for the dependencies bundled apart, scripts/bundle.ts) require a bundle
 * file with, as `require` would, one instance each.
 */
export function requireBundle(file: string): unknown {
  if (!loaded.has(file)) loaded.set(file, loadBundle(file).exports);
  return loaded.get(file);
}

/** Marks a cache as used (its mtime), at most once a day. */
function touch(file: string): void {
  try {
    const now = Date.now();
    if (now - statSync(file).mtimeMs > TOUCH_EVERY_MS) utimesSync(file, now / 1000, now / 1000);
  } catch {
    // Another start may have replaced it meanwhile: nothing to mark.
  }
}

/** Deletes `name`'s other caches (and temporary files left by a start that died writing one) unused for UNUSED_FOR_MS. */
function pruneUnused(keep: string, name: string): void {
  const dir = path.dirname(keep);
  const ours = new RegExp(`^${name.replace(/[^\w-]/g, '\\$&')}-[0-9a-f]{20}-.+\\.bin(\\..+\\.tmp)?$`);
  const before = Date.now() - UNUSED_FOR_MS;
  try {
    for (const entry of readdirSync(dir)) {
      const file = path.join(dir, entry);
      if (file === keep || !ours.test(entry)) continue;
      try {
        if (statSync(file).mtimeMs < before) rmSync(file, { force: true });
      } catch {
        // Gone already, or not ours to delete.
      }
    }
  } catch {
    // The folder cannot be read: nothing is pruned.
  }
}

/** Writes a cache file whole or not at all (a temporary file renamed over it); false when it could not. */
function writeCache(file: string, data: Buffer): boolean {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, file);
    return true;
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The folder itself is not there to hold it.
    }
    return false;
  }
}
