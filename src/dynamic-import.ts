/**
 * `import()` of a module only known at run time (a JS component's transpiled glue, jco-transpile),
 * from wherever this code runs. In dist/src/ it is the language's own. In the bundle, code that V8
 * compiled from a code cache (src/code-cache.ts) has lost node's dynamic-import callback (Node 20:
 * an `import()` there throws ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING), so the bundle has no
 * `import()` of its own (scripts/bundle.ts checks) and calls the one load.cjs installs: a module
 * node loaded the ordinary way, whose `import()` works.
 */

/** Where load.cjs puts its `import()`. */
export const IMPORT_HOOK = Symbol.for('verge.import');

type Importer = (specifier: string) => Promise<unknown>;

/** `import(specifier)`; `specifier` is a package name or an absolute URL (a relative one would resolve from load.cjs in the bundle). */
export function importModule<T>(specifier: string): Promise<T> {
  const hook = (globalThis as { [IMPORT_HOOK]?: Importer })[IMPORT_HOOK];
  return (hook ? hook(specifier) : import(specifier)) as Promise<T>;
}

/** Called by load.cjs: the bundle's `importModule` goes through `importer` from then on. */
export function installImportHook(importer: Importer): void {
  (globalThis as { [IMPORT_HOOK]?: Importer })[IMPORT_HOOK] ??= importer;
}
