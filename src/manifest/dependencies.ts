/**
 * `[component.NAME.dependencies]`: which imports of a component another component satisfies
 * (docs/composition.md). Read once at load, strictly: the key is an interface or a package name,
 * the value says where the dependency comes from (`component` or `path`), and `inherit` names the
 * parent's grants the dependency takes — by default it takes none.
 */
import path from 'node:path';
import type { Capability, CapabilityAppFields, CapabilityComponentFields } from '../capabilities/capability.js';
import type { DependencyConfig, DependencyTarget } from './config.js';
import { Fields, describe, isTable, tomlKey, type ManifestProblems, type TomlTable } from './fields.js';

const WORD = '[a-z][a-z0-9]*(?:-[a-z0-9]+)*';
const SEMVER = '(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)\\.(?:0|[1-9]\\d*)(?:-[0-9A-Za-z.-]+)?(?:\\+[0-9A-Za-z.-]+)?';
const KEY = new RegExp(`^(${WORD}:${WORD})(?:/(${WORD}))?(?:@(${SEMVER}))?$`);
const KEY_EXPECTED = 'an interface name such as "acme:auth/verify" or "acme:auth/verify@0.1.0", or a package such as "acme:auth" (every import of the package)';

/** A dependency key parsed, or undefined when it is not one. */
export function parseDependencyKey(key: string): DependencyTarget | undefined {
  const m = KEY.exec(key);
  return m ? { package: m[1]!, interface: m[2], version: m[3] } : undefined;
}

/**
 * Whether an import name (`acme:auth/verify@0.1.0`) is one the key covers: the same package, the
 * same interface when the key names one, the same version when the key gives one.
 */
export function dependencyMatches(target: DependencyTarget, importName: string): boolean {
  const m = /^([^/@]+)\/([^/@]+)(?:@(.+))?$/.exec(importName);
  if (!m || m[1] !== target.package) return false;
  if (target.interface !== undefined && m[2] !== target.interface) return false;
  return target.version === undefined || m[3] === target.version;
}

/** Two keys could cover the same import: one package or interface holds the other, at versions that do not exclude each other. */
function overlap(a: DependencyTarget, b: DependencyTarget): boolean {
  if (a.package !== b.package) return false;
  if (a.interface !== undefined && b.interface !== undefined && a.interface !== b.interface) return false;
  return a.version === undefined || b.version === undefined || a.version === b.version;
}

export interface DependencyContext {
  /** The manifest's folder: paths resolve against it. */
  dir: string;
  /** The parsed TOML, to resolve `component = "x"` to x's source. */
  doc: TomlTable;
  capabilities: readonly Capability[];
  app: CapabilityAppFields;
  problems: ManifestProblems;
}

/** The manifest keys `inherit` may list, from every capability's `inheritable`. */
export function inheritableKeys(capabilities: readonly Capability[]): string[] {
  return capabilities.flatMap((c) => (c.inheritable ?? []).map((g) => g.key));
}

/** `[component.NAME.dependencies]` of one component; problems go to ctx.problems. */
export function readDependencies(c: Fields, parent: string, parentGrants: CapabilityComponentFields, ctx: DependencyContext): DependencyConfig[] {
  const t = c.table('dependencies');
  if (!t) return [];
  const out: DependencyConfig[] = [];
  const allowed = inheritableKeys(ctx.capabilities);
  for (const key of Object.keys(t.raw)) {
    const at = `${t.path}.${tomlKey(key)}`;
    const target = parseDependencyKey(key);
    if (!target) ctx.problems.add(at, `the dependency name is not valid: expected ${KEY_EXPECTED}`);
    const entry = t.table(key, { required: true });
    if (!entry) continue;
    const dep = readEntry(entry, key, target, parent, parentGrants, allowed, ctx);
    if (dep) out.push(dep);
  }
  t.done();
  for (let i = 0; i < out.length; i++) {
    for (let j = 0; j < i; j++) {
      if (overlap(out[i]!.target, out[j]!.target)) {
        ctx.problems.add(`${t.path}.${tomlKey(out[i]!.key)}`, `covers imports that ${JSON.stringify(out[j]!.key)} also covers: each import is satisfied by one dependency, so name interfaces (or versions) that do not overlap`);
      }
    }
  }
  return out;
}

function readEntry(
  entry: Fields,
  key: string,
  target: DependencyTarget | undefined,
  parent: string,
  parentGrants: CapabilityComponentFields,
  allowed: readonly string[],
  ctx: DependencyContext,
): DependencyConfig | undefined {
  const component = entry.string('component', { expected: 'the name of another [component.NAME] of this app' });
  const file = entry.string('path', { expected: 'a path to a component .wasm file, relative to the manifest' });
  const exportName = entry.string('export', { expected: 'the name of the dependency\'s export, such as "acme:auth/verify@0.1.0"' });
  const inherit = entry.stringList('inherit', { expected: `one of ${allowed.map((k) => JSON.stringify(k)).join(', ')}` });
  entry.done();

  let bad = target === undefined;
  inherit.forEach((name, i) => {
    const at = `${entry.keyPath('inherit')}[${i}]`;
    if (!allowed.includes(name)) {
      ctx.problems.add(at, `expected one of ${allowed.map((k) => JSON.stringify(k)).join(', ')} (the grants a dependency may take from its component), got ${JSON.stringify(name)}`);
      bad = true;
    } else if (!grants(ctx.capabilities, name).some((field) => isGranted(parentGrants[field]))) {
      ctx.problems.add(at, `component ${parent} grants no ${name}, so its dependency has none to inherit: grant it to ${parent} first, or remove it from inherit`);
      bad = true;
    }
  });
  if (exportName !== undefined && target !== undefined && target.interface === undefined) {
    ctx.problems.add(entry.keyPath('export'), `applies to a dependency on one interface; ${JSON.stringify(key)} names a whole package, whose imports are each satisfied by the export of the same name`);
    bad = true;
  }
  if ((component === undefined) === (file === undefined)) {
    ctx.problems.add(entry.path, component === undefined ? 'is missing component or path: expected component = "NAME" (another component of this app) or path = "FILE.wasm"' : 'has both component and path: expected one of them');
    return undefined;
  }
  let source: string | undefined;
  if (component !== undefined) {
    const raw = (ctx.doc.component as TomlTable | undefined)?.[component];
    if (component === parent) {
      ctx.problems.add(entry.keyPath('component'), `names ${parent} itself: a component cannot satisfy its own imports`);
    } else if (!isTable(raw) || !Object.prototype.hasOwnProperty.call(ctx.doc.component, component)) {
      ctx.problems.add(entry.keyPath('component'), `no [component.${tomlKey(component)}] is defined`);
    } else if (typeof raw.source === 'string' && raw.source.length > 0) {
      source = path.resolve(ctx.dir, raw.source);
    }
    // A source that is missing or not a string is that component's own problem, reported there.
  } else {
    source = path.resolve(ctx.dir, file!);
  }
  if (bad || source === undefined || target === undefined) return undefined;
  return Object.freeze({
    key,
    target: Object.freeze(target),
    from: Object.freeze(component !== undefined ? { component } : { path: file! }),
    name: component ?? file!,
    source,
    export: exportName,
    inherit: Object.freeze(inherit),
    grants: Object.freeze(dependencyGrants(ctx, parentGrants, inherit)),
  });
}

/** The config fields behind one inheritable key. */
function grants(capabilities: readonly Capability[], key: string): ReadonlyArray<keyof CapabilityComponentFields> {
  return capabilities.flatMap((c) => c.inheritable ?? []).find((g) => g.key === key)?.fields ?? [];
}

function isGranted(v: unknown): boolean {
  return Array.isArray(v) ? v.length > 0 : v !== undefined && v !== false;
}

/**
 * A dependency's grants: each capability's reading of an empty component table (what a component
 * that grants nothing gets), then the parent's fields for each inherited key.
 */
function dependencyGrants(ctx: DependencyContext, parentGrants: CapabilityComponentFields, inherit: readonly string[]): CapabilityComponentFields {
  const empty = new Fields(ctx.problems, '', {});
  const base = Object.assign({}, ...ctx.capabilities.map((cap) => cap.manifest.readComponent?.(empty, ctx.app, ctx.problems))) as CapabilityComponentFields;
  for (const key of inherit) for (const field of grants(ctx.capabilities, key)) Object.assign(base, { [field]: parentGrants[field] });
  return base;
}

/**
 * Components named by a dependency and by no route (as component or middleware): only their source counts (they are
 * instantiated for their parents, with their parents' limits and inherited grants), so any other
 * key on their table would mislead and is refused.
 */
export function checkDependencyOnlyComponents(doc: TomlTable, routed: ReadonlySet<string>, dependents: ReadonlyMap<string, string[]>, problems: ManifestProblems): void {
  const tables = isTable(doc.component) ? doc.component : {};
  for (const [name, parents] of dependents) {
    if (routed.has(name)) continue;
    const raw = tables[name];
    if (!isTable(raw)) continue;
    for (const key of Object.keys(raw)) {
      if (key === 'source' || key === 'description' || key === 'build') continue;
      const what =
        key === 'dependencies'
          ? 'a dependency cannot have dependencies of its own (its imports are Verge\'s interfaces only)'
          : `its own ${key} would not apply: a dependency runs with its parent's limits and instance reuse, and gets only the grants its parent's entry lists in inherit`;
      problems.add(`component.${tomlKey(name)}.${tomlKey(key)}`, `component ${name} serves no route and is only a dependency (of ${parents.join(', ')}), so ${what}; remove ${key} (${describe(raw[key])})`);
    }
  }
}

/** What a route runs: its component and its middleware. */
export interface RouteRoles {
  readonly component: string;
  readonly middleware: readonly string[];
}

/** The components some route runs, as its component or as middleware: each serves requests of its own, with its own grants. */
export function servesRoutes(routes: ReadonlyArray<RouteRoles>): Set<string> {
  return new Set(routes.flatMap((r) => [r.component, ...r.middleware]));
}

/** How messages and logs name a dependency: "auth (acme:auth/verify, a dependency of api)". */
export function dependencyLabel(parent: string, d: Pick<DependencyConfig, 'name' | 'key'>): string {
  return `${d.name} (${d.key}, a dependency of ${parent})`;
}

/** Whether a component is only a dependency: named by some component's dependencies and by no route, as its component or one of its middleware. */
export function isDependencyOnly(app: { routes: ReadonlyArray<RouteRoles>; components: ReadonlyMap<string, { dependencies: readonly DependencyConfig[] }> }, name: string): boolean {
  if (servesRoutes(app.routes).has(name)) return false;
  return [...app.components.values()].some((c) => c.dependencies.some((d) => 'component' in d.from && d.from.component === name));
}

/** The files `path` dependencies name (a component named by `component` is one of the app's modules already), each once. */
export function dependencyFiles(app: { components: ReadonlyMap<string, { name: string; dependencies: readonly DependencyConfig[] }> }): Array<{ by: string; source: string; dependency: DependencyConfig; parent: string }> {
  const out = new Map<string, { by: string; source: string; dependency: DependencyConfig; parent: string }>();
  for (const c of app.components.values()) {
    for (const d of c.dependencies) {
      if ('path' in d.from && !out.has(d.source)) out.set(d.source, { by: `dependency ${JSON.stringify(d.key)} of component ${c.name}`, source: d.source, dependency: d, parent: c.name });
    }
  }
  return [...out.values()];
}
