/**
 * Main thread, at load: a wasi:http component is transpiled by jco into ESM glue plus core
 * modules, once per (component bytes, jco version), and cached on disk under its SHA-256, so a
 * second start reuses it. Then the import check (a component importing an interface Verge does
 * not provide fails here, naming it), the memory cap on every core module inside, and one
 * compile per core module; workers receive the compiled modules.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { vergeCacheDir } from '../cache-dir.js';
import { importModule } from '../dynamic-import.js';
import { VergeError } from '../errors.js';
import { componentExportNames, componentImportNames, readLayout, sandboxModule, type SandboxedModule } from '../wasm/binary.js';
import type { ComponentModuleSpec } from '../dispatch/protocol.js';
import { exposeStateForReset } from '../wasm/state-exports.js';
import { scanBodies, type BodyFacts } from '../wasm/table-writes.js';
import { PROVIDED_INTERFACES } from '../capabilities/index.js';
import { GLUE_PATCHES, patchGlue } from './glue-patches.js';
import { componentAsyncUse } from '../wasm/component-types.js';

/** What the transpile left in the cache folder, besides the files. */
interface CacheMeta {
  sha256: string;
  transpiler: string;
  /** [name, kind] as jco reports them. */
  exports: Array<[string, string]>;
  coreModules: string[];
  transpileMs: number;
  /** The glue patch set (glue-patches.ts) the entry's component.js went through; absent before any. */
  gluePatches?: string;
}

interface VersionRange {
  accepts: (version: string) => boolean;
  /** As a message shows it: "0.2.x", or the one draft. */
  shown: string;
}
const stable02: VersionRange = { accepts: (v) => /^0\.2\.(0|[1-9]\d*)$/.test(v), shown: '0.2.x' };
const exactly = (draft: string): VersionRange => ({ accepts: (v) => v === draft, shown: draft });

/**
 * The versions of each package Verge implements (its WIT, wit/deps). A stable 0.2 interface is
 * taken at any 0.2.N, as wasmtime and Spin do: 0.2 releases only add to it. Drafts are taken only
 * at the draft Verge binds, and 0.3 (async) or 1.0 not at all.
 */
export const IMPLEMENTED_VERSIONS: ReadonlyMap<string, VersionRange> = new Map([
  ['wasi:io', stable02],
  ['wasi:cli', stable02],
  ['wasi:clocks', stable02],
  ['wasi:random', stable02],
  ['wasi:filesystem', stable02],
  ['wasi:sockets', stable02],
  ['wasi:http', stable02],
  ['wasi:keyvalue', exactly('0.2.0-draft2')],
  ['wasi:config', exactly('0.2.0-draft')],
  ['wasi:logging', exactly('0.1.0-draft')],
  // Spin's (capabilities/postgres): the synchronous functions of 4.x (4.1 added the connection
  // builder; 4.2's async functions are not provided, so a component calling them fails).
  ['spin:postgres', { accepts: (v) => /^4\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/.test(v), shown: '4.x' }],
  // Spin's Redis interface (wit/deps/spin); the async spin:redis@3.0.0 needs the component model's async, which Verge does not run.
  ['fermyon:spin', exactly('2.0.0')],
]);

/** A WASI 0.3 version (0.3.0, or a 0.3.0-rc-DATE release candidate). */
const WASI_03 = /^wasi:[^@]+@0\.3\./;

/** Why Verge cannot supply an import, or undefined when it can. */
export function importRefusal(name: string): string | undefined {
  const m = /^([^/@]+)\/([^/@]+)(?:@(.*))?$/.exec(name);
  const pkg = m?.[1];
  if (!pkg || !PROVIDED_INTERFACES.has(`${pkg}/${m[2]}`)) return `imports ${name}, an interface Verge does not provide (docs/components.md lists what it does)`;
  const implemented = IMPLEMENTED_VERSIONS.get(pkg);
  if (!implemented) return `imports ${name}, an interface Verge does not provide (docs/components.md lists what it does)`;
  const version = m[3];
  if (version === undefined) return `imports ${name} without a version; Verge implements ${pkg}@${implemented.shown}`;
  if (!implemented.accepts(version)) {
    const why = WASI_03.test(name) ? ' (WASI 0.3 needs the component model\'s async ABI: docs/components.md#wasi-03-and-async-components)' : '';
    return `imports ${name}, a version Verge does not implement: it implements ${pkg}@${implemented.shown}${why}`;
  }
  return undefined;
}

/**
 * Why a component that uses the component model's async ABI (WASI 0.3: async functions, streams,
 * futures) is refused. Verge runs a component through jco's JavaScript glue, and for async
 * functions that glue wraps the guest's exports in `WebAssembly.promising` and its imports in
 * `WebAssembly.Suspending` (JavaScript Promise Integration), even an export that never waits;
 * Node 20's V8 (11.3) has neither, and Verge's host side of wasi:http 0.3 is not built.
 */
export function asyncRefusal(use: string, imported: readonly string[], exported: readonly string[]): string {
  const wasi03 = [...exported.filter((n) => WASI_03.test(n)).map((n) => `exports ${n}`), ...imported.filter((n) => WASI_03.test(n)).map((n) => `imports ${n}`)];
  const jspi = typeof (WebAssembly as { Suspending?: unknown }).Suspending === 'function';
  return (
    `${wasi03.length > 0 ? `is a WASI 0.3 component (${wasi03.join(', ')}) and ` : ''}uses the component model's async ABI (${use}), which Verge does not run` +
    (jspi ? '' : ` (jco's glue for it needs JavaScript Promise Integration, which Node ${process.version} does not have)`) +
    '; Verge serves wasi:http@0.2.x components: build this one for WASI 0.2 (docs/components.md#wasi-03-and-async-components)'
  );
}

const HANDLER_EXPORT = /^wasi:http\/incoming-handler@0\.2\.\d+$/;

export interface PreparedComponent {
  spec: Omit<ComponentModuleSpec, 'grants'>;
  /** Total bytes of the core modules inside. */
  coreBytes: number;
  /** How long the transpile took, when this load did it; undefined when it came from the cache. */
  transpileMs: number | undefined;
  cacheDir: string;
  /** A ComponentizeJS fetch-event handler: one request per instance (see isFetchEventHandler). */
  fetchEvent: boolean;
  /** What it exports, as jco's glue names them ("acme:auth/verify@0.1.0", and short aliases). */
  exports: string[];
}


let transpilerVersion: Promise<string> | undefined;
async function jcoTranspileVersion(): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve('@bytecodealliance/jco-transpile'));
  const pkg = JSON.parse(await fs.readFile(path.join(path.dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export interface PrepareOptions {
  component: string;
  where: string;
  capPages: number;
  instanceReuse: number;
  maxResponseBytes: number;
  cacheRoot?: string;
  /**
   * 'dependency': linked into another component's instances (docs/composition.md), so it need not
   * export a handler (spec.handlerExport is then empty). Default 'handler'.
   */
  role?: 'handler' | 'dependency';
  /** Imports a dependency satisfies: Verge need not provide them. */
  linked?: ReadonlySet<string>;
}

export async function prepareComponent(bytes: Uint8Array, o: PrepareOptions): Promise<PreparedComponent> {
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const transpiler = `jco-transpile-${await (transpilerVersion ??= jcoTranspileVersion())}`;
  const dir = path.join(o.cacheRoot ?? path.join(vergeCacheDir(), 'components'), `${sha256}-${transpiler}`);
  let imported: string[];
  let asyncUse: string | undefined;
  let exported: string[] = [];
  try {
    imported = componentImportNames(bytes);
    asyncUse = componentAsyncUse(bytes);
    if (asyncUse) exported = componentExportNames(bytes);
  } catch (e) {
    if (e instanceof VergeError) throw new VergeError(e.code, `${o.where}: ${e.message}`, { cause: e });
    throw e;
  }
  if (asyncUse) throw new VergeError('COMPONENT_ASYNC', `${o.where}: ${asyncRefusal(asyncUse, imported, exported)}`);
  const role = o.role ?? 'handler';
  const refusals = imported.flatMap((name) => {
    if (o.linked?.has(name)) return [];
    const refusal = importRefusal(name);
    if (refusal === undefined || name.startsWith('wasi:')) return refusal ?? [];
    return `${refusal}; ${role === 'handler' ? 'a dependency that exports it can satisfy it ([component.NAME.dependencies], docs/composition.md)' : "a dependency's own imports are satisfied by Verge only"}`;
  });
  if (refusals.length > 0) throw new VergeError('MODULE_IMPORT', refusals.map((r) => `${o.where}: ${r}`).join('\n'));
  let meta = await readMeta(dir);
  let transpileMs: number | undefined;
  if (!meta) {
    // One transpile per entry at a time in this process: the same bytes are loaded at once when
    // a component is also another's dependency, or several components share a source.
    let pending = transpiling.get(dir);
    if (!pending) {
      pending = transpileInto(dir, bytes, sha256, transpiler, o.where).finally(() => transpiling.delete(dir));
      transpiling.set(dir, pending);
    }
    meta = await pending;
    transpileMs = meta.transpileMs;
  }
  if (meta.gluePatches !== GLUE_PATCHES) meta = await patchCachedGlue(dir, meta);

  const handlerExport = role === 'dependency' ? '' : meta.exports.map(([name]) => name).find((name) => HANDLER_EXPORT.test(name));
  if (handlerExport === undefined) {
    throw new VergeError(
      'MODULE_INVALID',
      `${o.where}: the component does not export wasi:http/incoming-handler@0.2.x (it exports ${meta.exports.map(([n]) => n).join(', ') || 'nothing'}); Verge serves wasi:http/proxy components`,
    );
  }

  const coreModules: Record<string, WebAssembly.Module> = {};
  const coreMemories: Record<string, { initialPages: number; maximumPages: number }> = {};
  let coreBytes = 0;
  let fetchEvent = false;
  for (const name of meta.coreModules) {
    const raw = new Uint8Array(await fs.readFile(path.join(dir, name)));
    coreBytes += raw.length;
    let capped: SandboxedModule = { bytes: raw, memory: undefined };
    try {
      // A module defining a memory gets it as a capped import (recycled by workers); one that
      // imports its memory uses another module's, already capped.
      if (readLayout(raw).memories.length > 0) capped = sandboxModule(raw, o.capPages);
    } catch (e) {
      if (e instanceof VergeError) throw new VergeError(e.code, `${o.where}: core module ${name}: ${e.message}`, { cause: e });
      throw e;
    }
    if (capped.memory) coreMemories[name] = capped.memory;
    // Its globals and tables exported too, so that workers can reset a used instance instead of
    // making a new one; a module this cannot be done for (or must not be: a start function, a
    // dropped segment) keeps its component on fresh instances.
    let exposed = capped.bytes;
    try {
      exposed = exposeStateForReset(capped.bytes, await codeFacts(dir, name)).bytes;
    } catch {
      // A layout this reader refuses: the compile below says what is wrong, or the module runs unexposed.
    }
    try {
      coreModules[name] = await WebAssembly.compile(exposed);
    } catch (e) {
      throw new VergeError('MODULE_INVALID', `${o.where}: core module ${name} does not compile: ${(e as Error).message}`, { cause: e });
    }
    if (handlerExport) fetchEvent ||= isFetchEventHandler(coreModules[name], raw, handlerExport);
  }
  if (fetchEvent && o.instanceReuse > 1) {
    throw new VergeError(
      'MANIFEST_INVALID',
      `${o.where}: instance_reuse = ${o.instanceReuse} cannot work for this component: it is a fetch-event handler (addEventListener('fetch', ...) built by ComponentizeJS), ` +
        `and its instance answers only its first request — every later one fails with "respondWith can't be called twice" (502). ` +
        `Remove instance_reuse (a fresh instance per request), or export incomingHandler instead of listening for fetch events (docs/typescript.md), which can serve several requests per instance`,
    );
  }
  return {
    spec: {
      kind: 'component',
      component: o.component,
      glue: pathToFileURL(path.join(dir, 'component.js')).href,
      coreModules,
      coreMemories,
      handlerExport,
      instanceReuse: o.instanceReuse,
      maxResponseBytes: o.maxResponseBytes,
    },
    coreBytes,
    transpileMs,
    cacheDir: dir,
    fetchEvent,
    exports: meta.exports.map(([name]) => name),
  };
}

/**
 * What a core module's code does that a reset must know (scanBodies: whether it changes tables,
 * whether it drops segments), kept beside it in the transpile cache: reading every instruction of
 * a 13 MB engine takes too long for each start. (Entries made before kept only the first answer,
 * in NAME.tables.json: their code is read once more.)
 */
async function codeFacts(dir: string, name: string): Promise<(bytes: Uint8Array) => BodyFacts> {
  const file = path.join(dir, `${name}.code.json`);
  let kept: Partial<Record<keyof BodyFacts, boolean | null>> | undefined;
  try {
    kept = JSON.parse(await fs.readFile(file, 'utf8')) as typeof kept;
  } catch {
    // None yet, or not readable as it should be (a damaged cache): read the code.
  }
  if (kept && 'changesTables' in kept && 'dropsSegments' in kept) {
    const facts: BodyFacts = { changesTables: kept.changesTables ?? undefined, dropsSegments: kept.dropsSegments ?? undefined };
    return () => facts;
  }
  return (bytes) => {
    const facts = scanBodies(bytes);
    // Best effort: without it the next start reads the code again.
    writeWhole(file, JSON.stringify({ changesTables: facts.changesTables ?? null, dropsSegments: facts.dropsSegments ?? null }) + '\n').catch(() => undefined);
    return facts;
  };
}

/** StarlingMonkey's fetch-event builtin, in the data of the JS engine that ComponentizeJS builds on. */
const FETCH_EVENT_CLASS = Buffer.from('FetchEvent');

/**
 * Whether a core module serves the handler through StarlingMonkey's built-in fetch-event
 * dispatcher, which keeps one event per instance and so answers one request per instance. The rule
 * reads the component's structure, not its source: ComponentizeJS lifts a handler the JS exports
 * itself (incomingHandler) through a generated binding that always has a post-return function
 * (`cabi_post_<export>#handle`); the engine's own fetch-event `handle` returns nothing and has
 * none. A `handle` without post-return alone is not enough — Rust, Go or C# components have none
 * either — so the module must also be a StarlingMonkey engine (it holds the FetchEvent class).
 */
export function isFetchEventHandler(module: WebAssembly.Module, raw: Uint8Array, handlerExport: string): boolean {
  const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  if (!exports.has(`${handlerExport}#handle`) || exports.has(`cabi_post_${handlerExport}#handle`)) return false;
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).includes(FETCH_EVENT_CLASS);
}

/** The cache entry's meta, if the entry is whole: every file it names is there. */
async function readMeta(dir: string): Promise<CacheMeta | undefined> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as CacheMeta;
    await Promise.all(['component.js', ...meta.coreModules].map((f) => fs.access(path.join(dir, f))));
    return meta;
  } catch {
    return undefined;
  }
}

/**
 * Applies the glue patches to a cache entry's component.js, once per entry and patch set (entries
 * made before a patch existed get it on their next load). Written to a sibling and renamed over,
 * so a worker importing the glue meanwhile reads one whole version or the other.
 */
async function patchCachedGlue(dir: string, meta: CacheMeta): Promise<CacheMeta> {
  try {
    const glue = path.join(dir, 'component.js');
    const { source, applied } = patchGlue(await fs.readFile(glue, 'utf8'));
    if (applied.length > 0) await writeWhole(glue, source);
    const patched = { ...meta, gluePatches: GLUE_PATCHES };
    await writeWhole(path.join(dir, 'meta.json'), JSON.stringify(patched, null, 2) + '\n');
    return patched;
  } catch {
    // A cache this process cannot write (read-only, shared): the glue as jco made it works the same, only slower.
    return meta;
  }
}

/** Writes a cache file to a sibling and renames it over, so a reader meanwhile sees one whole version or the other. */
async function writeWhole(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, text);
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Transpiles in flight in this process, by cache entry. */
const transpiling = new Map<string, Promise<CacheMeta>>();

/** Transpiles into a temporary sibling folder and renames it into place, so readers never see half a cache entry. */
async function transpileInto(dir: string, bytes: Uint8Array, sha256: string, transpiler: string, where: string): Promise<CacheMeta> {
  const started = performance.now();
  const { transpileBytes } = await importModule<typeof import('@bytecodealliance/jco-transpile')>('@bytecodealliance/jco-transpile');
  let result: Awaited<ReturnType<typeof transpileBytes>>;
  try {
    result = await transpileBytes(bytes, {
      name: 'component',
      instantiation: 'sync',
      base64Cutoff: 0,
      emitTypescriptDeclarations: false,
      quiet: true,
    } as Parameters<typeof transpileBytes>[1]);
  } catch (e) {
    throw new VergeError('MODULE_INVALID', `${where}: jco could not transpile the component: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  const files = result.files as Record<string, Uint8Array>;
  const meta: CacheMeta = {
    sha256,
    transpiler,
    exports: result.exports as Array<[string, string]>,
    coreModules: Object.keys(files).filter((f) => f.endsWith('.wasm')).sort(),
    transpileMs: Math.round(performance.now() - started),
  };
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await fs.mkdir(tmp, { recursive: true });
  for (const [name, data] of Object.entries(files)) await fs.writeFile(path.join(tmp, name), data);
  // The glue is ESM; the cache folder is outside any package that would say so.
  await fs.writeFile(path.join(tmp, 'package.json'), '{"type":"module"}\n');
  await fs.writeFile(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
  try {
    await fs.rename(tmp, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    // An entry is there: another process finished the same transpile first (theirs is identical),
    // or a damaged one — only that is replaced. A whole entry is never removed, since other
    // loads may be reading it.
    if (await readMeta(dir)) {
      await fs.rm(tmp, { recursive: true, force: true });
      return meta;
    }
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(tmp, dir);
  }
  return meta;
}
