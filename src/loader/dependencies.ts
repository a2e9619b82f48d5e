/**
 * Main thread, at load: a component's dependencies (docs/composition.md). Each entry's key is
 * matched against the component's imports; each dependency is transpiled and compiled like any
 * component (its own imports must be Verge's), and every import it satisfies is checked against
 * its export of that name, by type (wasm/component-types.ts, wasm/component-type-diff.ts): a
 * missing export, a difference in a function or value type, or a resource is refused here,
 * naming both components, the interface and the difference — never at the first request.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { VergeError } from '../errors.js';
import type { ComponentConfig, DependencyConfig } from '../manifest/config.js';
import { dependencyLabel, dependencyMatches } from '../manifest/dependencies.js';
import type { ComponentGrants, DependencyLink, DependencyModuleSpec, ModuleSpec } from '../dispatch/protocol.js';
import { isComponentBinary } from '../wasm/binary.js';
import { force, readComponentTypes, type ComponentTypes, type Extern, type InstanceType } from '../wasm/component-types.js';
import { diffInstances, unlinkable } from '../wasm/component-type-diff.js';
import { prepareComponent } from './component.js';

/** A dependency as the main thread sends it to workers, before its grants are added. */
export type CompiledDependency = Omit<DependencyModuleSpec, 'grants'>;

/** A dependency's .wasm bytes: read from its file (`verge check`), or taken from an app draft. */
export type ReadDependency = (d: DependencyConfig) => Promise<Uint8Array>;

export interface PrepareDependencyOptions {
  capPages: number;
  maxModuleBytes: number;
  maxResponseBytes: number;
  cacheRoot?: string;
}

/**
 * Which of `imports` (the component's, as written) each dependency satisfies. A key that matches
 * none of them is refused: it is a typo or a stale entry.
 */
export function matchDependencies(c: ComponentConfig, where: string, imports: readonly string[]): Map<DependencyConfig, string[]> {
  const matched = new Map<DependencyConfig, string[]>();
  for (const d of c.dependencies) {
    const names = imports.filter((name) => dependencyMatches(d.target, name));
    if (names.length === 0) {
      const custom = imports.filter((name) => !name.startsWith('wasi:'));
      throw new VergeError(
        'DEPENDENCY_INVALID',
        `${where}: [component.${c.name}.dependencies] names ${JSON.stringify(d.key)}, but the component imports nothing it matches (it imports ${custom.length > 0 ? custom.join(', ') : 'only wasi:* interfaces'})`,
      );
    }
    matched.set(d, names);
  }
  return matched;
}

/** The import names any dependency satisfies. */
export function linkedNames(matched: ReadonlyMap<DependencyConfig, string[]>): Set<string> {
  return new Set([...matched.values()].flat());
}

/**
 * Transpiles and compiles each dependency and checks every import it satisfies against its
 * export. `parentBytes` is the component's own binary (its import types are read from it).
 */
export async function prepareDependencies(
  c: ComponentConfig,
  where: string,
  parentBytes: Uint8Array,
  matched: ReadonlyMap<DependencyConfig, string[]>,
  read: ReadDependency,
  o: PrepareDependencyOptions,
): Promise<{ dependencies: CompiledDependency[]; coreBytes: number }> {
  if (matched.size === 0) return { dependencies: [], coreBytes: 0 };
  const parentTypes = readTypes(parentBytes, where);
  const glueKeys = new Map<string, string>();
  const dependencies: CompiledDependency[] = [];
  let coreBytes = 0;
  for (const [d, names] of matched) {
    const label = dependencyLabel(c.name, d);
    const depWhere = `dependency ${d.name} (${d.key}, ${path.basename(d.source)}) of component ${c.name}`;
    const bytes = await read(d);
    if (bytes.byteLength > o.maxModuleBytes) throw new VergeError('MODULE_TOO_LARGE', `${depWhere}: the module is ${bytes.byteLength} bytes, over the limit of ${o.maxModuleBytes} bytes`);
    if (!isComponentBinary(bytes)) {
      throw new VergeError('DEPENDENCY_INVALID', `${depWhere}: is not a component (a dependency is a WebAssembly component that exports the interfaces it satisfies)`);
    }
    const depTypes = readTypes(bytes, depWhere);
    // Types first: a mismatch is found without transpiling anything.
    const checked = names.map((name) => {
      const exportName = d.export ?? name;
      const required = instanceOf(parentTypes.imports.get(name), () => `${where}: imports ${name} as something other than an interface; a dependency satisfies interface imports`);
      const lazy = depTypes.exports.get(exportName);
      if (lazy === undefined) {
        const offered = [...depTypes.exports.keys()].filter((n) => !/^wasi:http\/incoming-handler@/.test(n));
        throw new VergeError(
          'DEPENDENCY_INVALID',
          `${where}: imports ${name} from ${d.name} ([component.${c.name}.dependencies] ${JSON.stringify(d.key)}), but ${d.name} does not export ${exportName} (it exports ${offered.length > 0 ? offered.join(', ') : 'no interface'})`,
        );
      }
      const provided = instanceOf(force(lazy), () => `${depWhere}: exports ${exportName} as something other than an interface`);
      const refused = unlinkable(required);
      if (refused) {
        throw new VergeError(
          'DEPENDENCY_INVALID',
          `${where}: imports ${name} from ${d.name}, but ${name} uses ${refused}: Verge links functions over records, variants, enums, flags, lists, options, results, tuples, strings and numbers between components, not resources or async types`,
        );
      }
      const differences = diffInstances(required, provided, { importer: `${c.name}'s import`, exporter: `${d.name}'s export` });
      if (differences.length > 0) {
        throw new VergeError(
          'DEPENDENCY_INVALID',
          `${where}: imports ${name} from ${d.name} (${d.source}), whose export ${exportName} differs:\n${differences.map((x) => `  ${x}`).join('\n')}`,
        );
      }
      const parentImport = glueImportKey(name);
      const earlier = glueKeys.get(parentImport);
      if (earlier !== undefined) throw new VergeError('DEPENDENCY_INVALID', `${where}: imports both ${earlier} and ${name}; Verge links one version of an interface per component`);
      glueKeys.set(parentImport, name);
      return { parentImport, exportName, required };
    });
    const prepared = await prepareComponent(bytes, {
      component: label,
      where: depWhere,
      capPages: o.capPages,
      instanceReuse: 1,
      maxResponseBytes: o.maxResponseBytes,
      role: 'dependency',
      ...(o.cacheRoot !== undefined ? { cacheRoot: o.cacheRoot } : {}),
    });
    const links: DependencyLink[] = checked.map(({ parentImport, exportName, required }) => ({
      parentImport,
      glueExport: glueExportKey(prepared.exports, exportName, depWhere),
      ...functionsOf(required),
    }));
    coreBytes += prepared.coreBytes;
    dependencies.push({ key: d.key, label, glue: prepared.spec.glue, coreModules: prepared.spec.coreModules, coreMemories: prepared.spec.coreMemories, links });
  }
  return { dependencies, coreBytes };
}

function readTypes(bytes: Uint8Array, where: string): ComponentTypes {
  try {
    return readComponentTypes(bytes);
  } catch (err) {
    if (err instanceof VergeError) throw new VergeError(err.code, `${where}: ${err.message}`, { cause: err });
    throw err;
  }
}

function instanceOf(e: Extern | undefined, refuse: () => string): InstanceType {
  if (e?.sort !== 'instance') throw new VergeError('DEPENDENCY_INVALID', refuse());
  return e.type;
}

/** jco's glue asks for an interface import by its name without the version ("acme:auth/verify"). */
function glueImportKey(name: string): string {
  return name.replace(/@.*$/, '');
}

/** jco's glue returns an exported interface under its full name; a plain-named export under its camelCase name. */
function glueExportKey(exports: readonly string[], name: string, where: string): string {
  for (const key of [name, camelCase(name)]) if (exports.includes(key)) return key;
  throw new VergeError('INTERNAL', `${where}: the transpiled component does not export ${name} (its glue exports ${exports.join(', ')})`);
}

/** Reads a dependency from its file, refusing one over the module size limit before reading it. */
export function readDependencyFile(parent: string, maxModuleBytes: number): ReadDependency {
  return async (d) => {
    const where = `dependency ${d.name} (${d.key}) of component ${parent}`;
    let size: number;
    try {
      size = (await fs.stat(d.source)).size;
    } catch (err) {
      throw new VergeError('MODULE_INVALID', `${where}: cannot read ${d.source} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (size > maxModuleBytes) throw new VergeError('MODULE_TOO_LARGE', `${where}: ${d.source} is ${size} bytes, over the limit of ${maxModuleBytes} bytes`);
    return new Uint8Array(await fs.readFile(d.source));
  };
}

/** A WIT name as jco's glue names the function (heck's lowerCamelCase): "fetch-data" → fetchData, "get-URL" → getUrl. */
export function camelCase(name: string): string {
  return name
    .split('-')
    .map((word, i) => (i === 0 ? word.toLowerCase() : word.charAt(0).toUpperCase() + word.slice(1).toLowerCase()))
    .join('');
}

function functionsOf(required: InstanceType): Pick<DependencyLink, 'functions' | 'resultFunctions'> {
  const functions: string[] = [];
  const resultFunctions: string[] = [];
  for (const [name, lazy] of required.exports) {
    const e = force(lazy);
    if (e.sort !== 'func') continue;
    functions.push(camelCase(name));
    if (e.type.result?.kind === 'result') resultFunctions.push(camelCase(name));
  }
  return { functions, resultFunctions };
}

/** A module with its grants (and its dependencies' grants) for the workers. */
export function withGrants(
  spec: { kind: 'wagi' | 'component'; component: string; dependencies?: CompiledDependency[] },
  grantsFor: (component: string, dependency?: string) => ComponentGrants,
): ModuleSpec {
  const grants = grantsFor(spec.component);
  if (!spec.dependencies || spec.dependencies.length === 0) return { ...spec, grants } as ModuleSpec;
  return { ...spec, grants, dependencies: spec.dependencies.map((d) => ({ ...d, grants: grantsFor(spec.component, d.key) })) } as ModuleSpec;
}
