/**
 * The bundle `bin/verge.js` runs (`npm run build`, after tsc). Loading Verge's ~300 modules (its
 * own and its dependencies', each opened, resolved and compiled on its own) in the main thread
 * and in each worker was most of the time from spawn to the first answer. Bundled, each thread
 * loads one file; and as CommonJS, through src/code-cache.ts, V8 compiles it from a code cache
 * instead of parsing it again (Node 20 has no compile cache for ES modules, and parsing the
 * bundle was a third of what was left of start-up).
 *
 * Input is tsc's output (dist/src/), so the bundle runs exactly the code the unit tests test.
 * dist/bundle/ holds:
 * - `cli.cjs`, `worker.cjs`, `export-thread.cjs`: each thread's code, everything it can import in
 *   one file (what the source imports with `await import()` — metrics, cluster, outbound HTTP,
 *   NATS — is only initialized when first imported), loaded by `load.cjs` with a code cache;
 * - `worker.thread.cjs`, `export-thread.thread.cjs`: what `new Worker()` runs (package-files.ts's
 *   threadEntry), a line each that loads the thread's code the same way;
 * - `worker-spawn.cjs`: the module bin/verge.js prespawns workers with before it loads the CLI;
 *   the CLI requires this same file, so its pool adopts them (one instance of its state).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile, type Plugin } from 'esbuild';
import { BUNDLE_DIR, THREAD_ENTRIES, bundledThreadEntry, packagePath, type ThreadEntry } from '../src/package-files.js';

/**
 * Loaded from node_modules at run time rather than bundled: better-sqlite3 is native; it and pg
 * are required on first use through src/lazy-require.ts (a createRequire, which esbuild leaves
 * alone); jco-transpile finds its own files next to its entry (src/loader/component.ts).
 */
const EXTERNAL = ['better-sqlite3', 'pg', '@bytecodealliance/jco-transpile'];

/** Each thread's code, by its file name in dist/bundle/ (`.cjs`), with its module under dist/src/. */
const CODE: Record<string, string> = { cli: 'cli/main', ...THREAD_ENTRIES };

/** The module the CLI shares with bin/verge.js (see above). */
const SHARED = 'dispatch/worker-spawn';

// Code that is bundled as CommonJS has no import.meta: what Verge's modules read from it
// (package-files.ts: where the package is; lazy-require.ts; the jco-transpile lookup in
// src/loader/component.ts) is given from the file's own CommonJS variables instead.
const IMPORT_META_BANNER = 'var __vergeImportMetaUrl = require("node:url").pathToFileURL(__filename).href; var __vergeImportMetaResolve = (s) => require("node:url").pathToFileURL(require.resolve(s)).href;';
const IMPORT_META_DEFINE = { 'import.meta.url': '__vergeImportMetaUrl', 'import.meta.resolve': '__vergeImportMetaResolve' };

/** Makes every import of the shared module (but its own entry) a `require('./worker-spawn.cjs')`. */
function shareModule(module: string): Plugin {
  const file = packagePath(`dist/src/${module}.js`);
  const name = `./${path.basename(module)}.cjs`;
  return {
    name: 'verge-shared-module',
    setup(b) {
      b.onResolve({ filter: new RegExp(`${path.basename(module)}\\.js$`) }, (args) => {
        if (args.kind === 'entry-point') return undefined;
        return path.resolve(args.resolveDir, args.path) === file ? { path: name, external: true } : undefined;
      });
    },
  };
}

/**
 * Dependencies the threads only reach through a lazy import (outbound HTTP, NATS, OpenTelemetry
 * export, the admin listener's metrics), each group bundled in a file of its own
 * (`vendor-<group>.cjs`) that is loaded, with its own code cache, only when the first import of
 * one of its packages runs: a thread's file holds, and V8 keeps in memory, only its own code
 * (the CLI's file was 2.2 MB with them, 0.8 MB without). A group's packages share their
 * internals (the NATS clients share nats-core; the OpenTelemetry packages share the API's global
 * state), so they are one file, one instance per thread.
 */
const VENDOR: Record<string, string[]> = {
  undici: ['undici'],
  nats: ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv', '@nats-io/obj'],
  otel: [
    '@opentelemetry/api',
    '@opentelemetry/api-logs',
    '@opentelemetry/core',
    '@opentelemetry/resources',
    '@opentelemetry/sdk-trace',
    '@opentelemetry/exporter-trace-otlp-proto',
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/exporter-logs-otlp-proto',
    '@opentelemetry/exporter-logs-otlp-http',
  ],
  'prom-client': ['prom-client'],
};

const requireBundleCall = (file: string) => `require("./load.cjs").requireBundle(require("node:path").join(__dirname, ${JSON.stringify(file)}))`;

/** A group's file: its packages' exports, by package name. */
function vendorEntries(): Plugin {
  return {
    name: 'verge-vendor-entries',
    setup(b) {
      b.onResolve({ filter: /^vendor:/ }, (args) => ({ path: args.path.slice('vendor:'.length), namespace: 'vendor-entry' }));
      b.onLoad({ filter: /.*/, namespace: 'vendor-entry' }, (args) => ({
        contents: `module.exports = {${VENDOR[args.path]!.map((pkg) => `${JSON.stringify(pkg)}: require(${JSON.stringify(pkg)})`).join(', ')}};`,
        resolveDir: packagePath('.'),
        loader: 'js',
      }));
    },
  };
}

/** In a thread's file, each of those packages is its group's file's entry for it, required when first imported. */
function vendorImports(): Plugin {
  const group = new Map(Object.entries(VENDOR).flatMap(([name, pkgs]) => pkgs.map((pkg) => [pkg, name] as const)));
  return {
    name: 'verge-vendor-imports',
    setup(b) {
      b.onResolve({ filter: /^[@a-z]/ }, (args) => (group.has(args.path) && args.namespace === 'file' ? { path: args.path, namespace: 'vendor-import' } : undefined));
      b.onLoad({ filter: /.*/, namespace: 'vendor-import' }, (args) => ({
        contents: `module.exports = ${requireBundleCall(`vendor-${group.get(args.path)!}.cjs`)}[${JSON.stringify(args.path)}];`,
        loader: 'js',
      }));
      b.onResolve({ filter: /^(\.\/load\.cjs|node:path)$/, namespace: 'vendor-import' }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/** Refuses a file loaded through the code cache that still calls `import()` (it would throw there). */
function checkNoImport(files: string[]): void {
  const found = files.flatMap((file) => {
    const code = readFileSync(packagePath(file), 'utf8');
    return [...code.matchAll(/(?<![\w$.])import\s*\(/g)].map((m) => `${file}: ...${code.slice(Math.max(0, m.index! - 60), m.index! + 60)}...`);
  });
  if (found.length > 0) throw new Error(`import() in code the code cache loads, where it throws; use src/dynamic-import.ts's importModule:\n  ${found.join('\n  ')}`);
}

/** The source of `<name>.thread.cjs`, what `new Worker()` runs: it loads the thread's code through the code cache (src/code-cache.ts). */
function threadEntrySource(name: string): string {
  return `"use strict";\n// What \`new Worker()\` runs for the ${name} thread (scripts/bundle.ts).\n${requireBundleCall(`${name}.cjs`)};\n`;
}

async function bundle(): Promise<void> {
  const outdir = packagePath(BUNDLE_DIR);
  rmSync(outdir, { recursive: true, force: true });
  const entries: Record<string, string> = { ...CODE, [path.basename(SHARED)]: SHARED };
  const entryPoints = Object.fromEntries(Object.entries(entries).map(([name, src]) => [name, packagePath(`dist/src/${src}.js`)]));
  const common = {
    outdir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    define: { VERGE_BUNDLED: 'true', ...IMPORT_META_DEFINE },
    external: EXTERNAL,
    banner: { js: IMPORT_META_BANNER },
    sourcemap: 'linked',
    logLevel: 'warning',
    metafile: true,
    // Whitespace and syntax only: names stay, so stack traces still read. V8 keeps each file's
    // source for lazy compilation, in the main thread and again in every worker.
    minifyWhitespace: true,
    minifySyntax: true,
  } as const;
  // What V8 compiles from a code cache has no `import()` (src/dynamic-import.ts): esbuild turns the
  // dependencies' own (OpenTelemetry's `import("http")`) into `require`, and checkNoImport refuses
  // any left. load.cjs is loaded by node's `require`, keeps its `import()`, and lends it to the rest.
  const cached = { ...common, supported: { 'dynamic-import': false } };
  const threads = await build({ ...cached, entryPoints, plugins: [shareModule(SHARED), vendorImports()] });
  const vendor = await build({ ...cached, entryPoints: Object.fromEntries(Object.keys(VENDOR).map((name) => [`vendor-${name}`, `vendor:${name}`])), plugins: [vendorEntries()] });
  const loader = await build({ ...common, entryPoints: { load: packagePath('dist/src/code-cache.js') } });
  const builds = [threads, vendor, loader];
  const result = { metafile: { inputs: Object.assign({}, ...builds.map((b) => b.metafile.inputs)), outputs: Object.assign({}, ...builds.map((b) => b.metafile.outputs)) } as Metafile };
  checkNoImport([...Object.keys(threads.metafile.outputs), ...Object.keys(vendor.metafile.outputs)].filter((f) => f.endsWith('.cjs')));
  for (const name of Object.keys(THREAD_ENTRIES) as ThreadEntry[]) writeFileSync(packagePath(bundledThreadEntry(name)), threadEntrySource(name));
  // What went where, for esbuild's analyzer and for checking what each thread's file holds.
  writeFileSync(path.join(outdir, 'metafile.json'), JSON.stringify(result.metafile));
  const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.cjs'));
  const sizes = outputs.map(([file, o]) => `${path.basename(file)} ${(o.bytes / 1024).toFixed(0)} KiB`).join(', ');
  process.stdout.write(`bundled ${Object.keys(result.metafile.inputs).length} modules in ${path.relative(process.cwd(), outdir)}/: ${sizes}\n`);
}

await bundle();
