/**
 * Where the package's own files are at run time. The same source runs from two places: the
 * bundle in dist/bundle/ (what bin/verge.js loads: a few files instead of ~300 ES modules per
 * thread, see scripts/bundle.ts) and the compiled tree in dist/src/ (what unit tests import).
 * This module sits two folders below the package root in both (dist/src/package-files.js, or a
 * file of dist/bundle/), so the root is one relative URL; only the threads' entry files differ.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Replaced by `true` when scripts/bundle.ts builds the bundle (an esbuild define); never declared otherwise.
declare const VERGE_BUNDLED: boolean | undefined;

/** True when this code runs from dist/bundle/. */
export const BUNDLED = typeof VERGE_BUNDLED === 'boolean' && VERGE_BUNDLED;

/** The bundle's folder, relative to the package root. */
export const BUNDLE_DIR = 'dist/bundle';

const ROOT = new URL('../../', import.meta.url);

/** A file or folder (with a trailing slash) of the installed package, by its path from the package root. */
export function packageUrl(relative: string): URL {
  return new URL(relative, ROOT);
}

export function packagePath(relative: string): string {
  return fileURLToPath(packageUrl(relative));
}

let version: string | undefined;

/** The package's version, from its package.json (read once). */
export function packageVersion(): string {
  return (version ??= (JSON.parse(readFileSync(packageUrl('package.json'), 'utf8')) as { version: string }).version);
}

/**
 * Files started as threads, by their file name in the bundle, with their module under src/. The
 * bundle builds one entry point for each of these.
 */
export const THREAD_ENTRIES = Object.freeze({
  worker: 'sandbox/worker',
  'export-thread': 'telemetry/trace/export-thread',
});

export type ThreadEntry = keyof typeof THREAD_ENTRIES;

/** The bundle's entry file for a thread (it loads the thread's code, `${name}.cjs`, through the code cache; scripts/bundle.ts), from the package root. */
export function bundledThreadEntry(name: ThreadEntry): string {
  return `${BUNDLE_DIR}/${name}.thread.cjs`;
}

/** What `new Worker(...)` runs for `name`, from wherever this code was loaded. */
export function threadEntry(name: ThreadEntry): URL {
  return packageUrl(BUNDLED ? bundledThreadEntry(name) : `dist/src/${THREAD_ENTRIES[name]}.js`);
}
