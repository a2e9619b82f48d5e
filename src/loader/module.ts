/**
 * Loading a component's module on the main thread: size check before reading, the memory rewrite,
 * compile once, and an import check so a module asking for something Verge does not provide fails
 * at load (and in `verge check`) rather than on its first request.
 */
import { promises as fs } from 'node:fs';
import { VergeError, isVergeError } from '../errors.js';
import { MAX_MODULE_BYTES, type ComponentConfig } from '../manifest/config.js';
import { SANDBOX_MEMORY_IMPORT, WASM_PAGE_BYTES, componentImportNames, isComponentBinary, sandboxModule } from '../wasm/binary.js';
import type { ComponentModuleSpec, WagiModuleSpec } from '../dispatch/protocol.js';
import { exposeStateForReset } from '../wasm/state-exports.js';
import { prepareComponent } from './component.js';
import { linkedNames, matchDependencies, prepareDependencies, readDependencyFile, type CompiledDependency, type ReadDependency } from './dependencies.js';
import { WASI_MODULE, WASI_P1_FUNCTIONS } from '../sandbox/wagi/wasi-p1.js';
import { VERGE_ABI_MODULE } from '../capabilities/abi.js';
import { VERGE_ABI_NAMES } from '../capabilities/index.js';

const WASI_NAMES = new Set<string>(WASI_P1_FUNCTIONS);

/** A compiled module; the node adds the component's resolved grants (and its dependencies') before sending it to workers. */
export type CompiledModule = Omit<WagiModuleSpec, 'grants'> | (Omit<ComponentModuleSpec, 'grants' | 'dependencies'> & { dependencies?: CompiledDependency[] });

export interface LoadedComponent {
  spec: CompiledModule;
  bytes: number;
  /** WAGI modules: the memory a fresh instance starts with. */
  initialMemoryBytes: number;
  /** Components: how their load went (transpiled now or taken from the cache). */
  component?: {
    coreBytes: number;
    /** Set when this load transpiled it; undefined when the cache had it. */
    transpileMs: number | undefined;
    cacheDir: string;
    /** A ComponentizeJS fetch-event handler, which cannot reuse instances. */
    fetchEvent: boolean;
    /** Its dependencies, linked into each instance: "auth (acme:auth/verify, a dependency of api)". */
    dependencies: string[];
  };
}

/** Over this much core code a component is heavy to instantiate per request (a JS engine is ~13 MB): `verge check` suggests instance_reuse. */
export const HEAVY_COMPONENT_BYTES = 4 * 1024 * 1024;

/** Refused before reading (a file) or compiling (bytes from anywhere). */
function checkSize(c: ComponentConfig, size: number, maxModuleBytes: number): void {
  if (size > maxModuleBytes) throw new VergeError('MODULE_TOO_LARGE', `${where(c)}: the module is ${size} bytes, over the limit of ${maxModuleBytes} bytes`);
}

function where(c: ComponentConfig): string {
  return `component ${c.name} (${c.source})`;
}

/** Reads a component's module file, refusing one over the size limit before reading it. */
export async function readModuleFile(c: ComponentConfig, maxModuleBytes = MAX_MODULE_BYTES): Promise<Uint8Array> {
  let size: number;
  try {
    size = (await fs.stat(c.source)).size;
  } catch (err) {
    const hint = c.build ? '; run `verge build` (or `verge up --build`) first' : '';
    throw new VergeError('MODULE_INVALID', `${where(c)}: cannot read the module (${(err as NodeJS.ErrnoException).code ?? String(err)})${hint}`);
  }
  checkSize(c, size, maxModuleBytes);
  return new Uint8Array(await fs.readFile(c.source));
}

export async function loadComponent(c: ComponentConfig, maxModuleBytes = MAX_MODULE_BYTES): Promise<LoadedComponent> {
  return compileComponent(c, await readModuleFile(c, maxModuleBytes), maxModuleBytes);
}

/**
 * Bytes in, a compiled module out: the same checks whether the bytes came from a file or an
 * upload. A component's dependencies are read with `readDependency` (from their files by default).
 */
export async function compileComponent(c: ComponentConfig, raw: Uint8Array, maxModuleBytes = MAX_MODULE_BYTES, readDependency?: ReadDependency): Promise<LoadedComponent> {
  const size = raw.byteLength;
  checkSize(c, size, maxModuleBytes);
  const capPages = Math.floor((c.limits.memoryMib * 1024 * 1024) / WASM_PAGE_BYTES);
  const kind = isComponentBinary(raw) ? 'wasi-http' : 'wagi';
  if (c.executor !== undefined && c.executor !== kind) {
    throw new VergeError(
      'MODULE_INVALID',
      c.executor === 'wagi'
        ? `${where(c)}: its executor is wagi, but the file is a component: expected a WASI command module (wasm32-wasi, with _start); a wasi:http component runs without executor = { type = "wagi" }`
        : `${where(c)}: the file is a core module, not a wasi:http component: a WASI command runs as WAGI with executor = { type = "wagi" } on its trigger (Spin 1 SDK modules, fermyon:spin/inbound-http, are not supported)`,
    );
  }
  if (kind === 'wasi-http') {
    const matched = c.dependencies.length > 0 ? matchDependencies(c, where(c), importNames(c, raw)) : new Map();
    const prepared = await prepareComponent(raw, {
      component: c.name,
      where: where(c),
      capPages,
      instanceReuse: c.instanceReuse,
      maxResponseBytes: c.limits.maxResponseBytes,
      linked: linkedNames(matched),
    });
    const linked = await prepareDependencies(c, where(c), raw, matched, readDependency ?? readDependencyFile(c.name, maxModuleBytes), {
      capPages,
      maxModuleBytes,
      maxResponseBytes: c.limits.maxResponseBytes,
    });
    return {
      spec: linked.dependencies.length > 0 ? { ...prepared.spec, dependencies: linked.dependencies } : prepared.spec,
      bytes: size,
      initialMemoryBytes: 0,
      component: {
        coreBytes: prepared.coreBytes + linked.coreBytes,
        transpileMs: prepared.transpileMs,
        cacheDir: prepared.cacheDir,
        fetchEvent: prepared.fetchEvent,
        dependencies: linked.dependencies.map((d) => d.label),
      },
    };
  }
  if (c.dependencies.length > 0) {
    throw new VergeError('DEPENDENCY_INVALID', `${where(c)}: has dependencies, but it is a WAGI module: dependencies satisfy the interface imports of wasi:http components`);
  }
  if (c.instanceReuse !== 1) {
    throw new VergeError('MANIFEST_INVALID', `${where(c)}: instance_reuse applies to wasi:http components; a WAGI module gets a fresh instance per request`);
  }
  let sandboxed;
  try {
    sandboxed = sandboxModule(raw, capPages);
  } catch (err) {
    if (isVergeError(err)) throw new VergeError(err.code, `${where(c)}: ${err.message}`, { cause: err });
    throw err;
  }
  // With its state exported, a worker puts a used instance back instead of instantiating the
  // module again (sandbox/wagi/runner.ts); a module refused here gets a new instance per request.
  const exposed = sandboxed.memory ? exposeStateForReset(sandboxed.bytes) : sandboxed;
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(exposed.bytes);
  } catch (err) {
    throw new VergeError('MODULE_INVALID', `${where(c)}: the module does not compile: ${(err as Error).message}`, { cause: err });
  }
  checkInterface(c, module);
  return {
    spec: { kind: 'wagi', component: c.name, module, memory: sandboxed.memory, maxResponseBytes: c.limits.maxResponseBytes },
    bytes: size,
    initialMemoryBytes: (sandboxed.memory?.initialPages ?? 0) * WASM_PAGE_BYTES,
  };
}

function importNames(c: ComponentConfig, raw: Uint8Array): string[] {
  try {
    return componentImportNames(raw);
  } catch (err) {
    if (isVergeError(err)) throw new VergeError(err.code, `${where(c)}: ${err.message}`, { cause: err });
    throw err;
  }
}

function checkInterface(c: ComponentConfig, module: WebAssembly.Module): void {
  const problems: string[] = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === SANDBOX_MEMORY_IMPORT.module && imp.name === SANDBOX_MEMORY_IMPORT.name) continue;
    if (imp.module === WASI_MODULE && imp.kind === 'function' && WASI_NAMES.has(imp.name)) continue;
    if (imp.module === VERGE_ABI_MODULE && imp.kind === 'function' && VERGE_ABI_NAMES.has(imp.name)) continue;
    const what =
      imp.module === WASI_MODULE
        ? 'is not a WASI preview1 function'
        : imp.module === VERGE_ABI_MODULE
          ? `is not a ${VERGE_ABI_MODULE} function (docs/abi.md)`
          : `is not provided by Verge (WAGI modules may import ${WASI_MODULE} and ${VERGE_ABI_MODULE})`;
    problems.push(`imports ${imp.kind} ${imp.module}.${imp.name}, which ${what}`);
  }
  const start = WebAssembly.Module.exports(module).find((e) => e.name === '_start');
  if (!start || start.kind !== 'function') problems.push('exports no _start function; a WAGI handler is a WASI command (wasm32-wasi binary with a main)');
  if (problems.length > 0) {
    const code = problems.some((p) => p.startsWith('imports')) ? 'MODULE_IMPORT' : 'MODULE_INVALID';
    throw new VergeError(code, problems.map((p) => `${where(c)}: ${p}`).join('\n'));
  }
}
