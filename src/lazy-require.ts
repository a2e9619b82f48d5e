/**
 * A CommonJS dependency loaded on first use instead of at start-up, still synchronously (the
 * callers are synchronous host calls and constructors). pg, better-sqlite3 and prom-client cost
 * ~15–70 ms of CPU and several MiB each per thread that imports them; most apps never use pg,
 * and a worker only opens SQLite when a guest is granted a store.
 */
import { createRequire } from 'node:module';

const requireHere = createRequire(import.meta.url);

/** A getter for `specifier`'s exports, required the first time it is called. */
export function lazyRequire<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= requireHere(specifier) as T);
}
