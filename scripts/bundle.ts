/**
 * The bundle `bin/verge.js` runs (`npm run build`, after tsc). Node 20 has no compile cache for
 * ES modules, and loading Verge's ~300 modules (its own and its dependencies', each opened,
 * resolved and compiled on its own) in the main thread and in each worker was most of the time
 * from spawn to the first answer. Bundled, each thread loads a few files.
 *
 * Input is tsc's output (dist/src/), so the bundle runs exactly the code the unit tests test.
 * Code splitting keeps one instance of each module shared by entry points (bin/verge.js starts
 * the workers from worker-spawn.js before it imports the CLI, and the pool adopts them from that
 * module's state), and keeps what the source imports with `await import()` (metrics, cluster,
 * outbound HTTP, NATS) in chunks of its own, loaded when used.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';
import { BUNDLE_DIR, THREAD_ENTRIES, packagePath } from '../src/package-files.js';

/**
 * Loaded from node_modules at run time rather than bundled: better-sqlite3 is native; it and pg
 * are required on first use through src/lazy-require.ts (a createRequire, which esbuild leaves
 * alone); jco-transpile finds its own files next to its entry (src/loader/component.ts).
 */
const EXTERNAL = ['better-sqlite3', 'pg', '@bytecodealliance/jco-transpile'];

/** Entry points beside the threads': the CLI, and the module bin/verge.js prespawns workers with. */
const ENTRIES: Record<string, string> = {
  cli: 'cli/main',
  'worker-spawn': 'dispatch/worker-spawn',
  ...THREAD_ENTRIES,
};

// The CommonJS dependencies (commander, pino, prom-client, undici…) call `require` for node's
// built-ins; an ES module has none of its own.
const REQUIRE_BANNER = "import { createRequire as __vergeCreateRequire } from 'node:module'; const require = __vergeCreateRequire(import.meta.url);";

/**
 * With code splitting, esbuild makes a CommonJS module loaded with `await import()` a chunk with
 * only a default export (evanw/esbuild#3245), where node gives it its named exports too: `const {
 * connect } = await import('pkg')` works from dist/src/ and is undefined in the bundle. Such a
 * package is re-exported statically from a module of ours that is itself imported lazily
 * (src/backends/nats/client.ts). Only Verge's own code is checked: the one dependency doing it,
 * @opentelemetry/resources' host machine-id detectors, is never run (createResource in
 * src/telemetry/trace/export.ts uses the environment detector alone).
 */
function refuseDynamicCommonJs(metafile: Metafile): void {
  const ours = Object.entries(metafile.inputs).filter(([file]) => !file.includes('node_modules/'));
  const found = ours.flatMap(([file, input]) =>
    input.imports.filter((i) => i.kind === 'dynamic-import' && metafile.inputs[i.path]?.format === 'cjs').map((i) => `${file} imports ${i.original ?? i.path}`),
  );
  if (found.length > 0) throw new Error(`await import() of a CommonJS module loses its named exports in the bundle; re-export it statically from a module that is imported lazily:\n  ${found.join('\n  ')}`);
}

async function bundle(): Promise<void> {
  const outdir = packagePath(BUNDLE_DIR);
  rmSync(outdir, { recursive: true, force: true });
  const entryPoints = Object.fromEntries(Object.entries(ENTRIES).map(([name, src]) => [name, packagePath(`dist/src/${src}.js`)]));
  const result = await build({
    entryPoints,
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Every chunk in one folder: package-files.js's "two folders below the root" holds for all of them.
    chunkNames: 'chunk-[hash]',
    define: { VERGE_BUNDLED: 'true' },
    external: EXTERNAL,
    banner: { js: REQUIRE_BANNER },
    sourcemap: 'linked',
    logLevel: 'warning',
    metafile: true,
    // Whitespace and syntax only: names stay, so stack traces still read. V8 keeps each module's
    // source for lazy compilation, in the main thread and again in every worker: 3.6 → 2.5 MB of
    // source made an idle `verge up` 2.7 MiB smaller (bench/RESULTS.md, 2026-12-01 00:13).
    minifyWhitespace: true,
    minifySyntax: true,
  });
  refuseDynamicCommonJs(result.metafile);
  // What went where, for esbuild's analyzer and for checking that a lazy import stayed lazy.
  writeFileSync(path.join(outdir, 'metafile.json'), JSON.stringify(result.metafile));
  const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
  const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
  process.stdout.write(`bundled ${Object.keys(result.metafile.inputs).length} modules into ${outputs.length} files (${(bytes / 1024).toFixed(0)} KiB) in ${path.relative(process.cwd(), outdir)}/\n`);
}

await bundle();
