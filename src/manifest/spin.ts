/**
 * spin.toml (manifest version 2) → the verge.toml document it means, checked by the same code as
 * a verge.toml (load.ts checkManifest). The translation reads every Spin key it knows and refuses,
 * by key path, every one Verge cannot honour; each key of the result remembers where in the
 * spin.toml (or the runtime config) it came from, so a problem the checks find names that place.
 * docs/spin.md is the table of what maps to what.
 */
import path from 'node:path';
import { VergeError } from '../errors.js';
import { Fields, ManifestProblems, describe, isTable, tomlKey, type TomlTable } from './fields.js';
import { readRuntimeConfig } from './spin-runtime-config.js';

export const SPIN_MANIFEST_FILE = 'spin.toml';

/** A Spin manifest says so: verge.toml has no such key. */
export function isSpinManifest(doc: TomlTable): boolean {
  return 'spin_manifest_version' in doc || 'spin_version' in doc;
}

/** Where a key of the translated document was written: longest prefix first. */
export class SourceMap {
  private readonly entries: Array<{ prefix: string; file: string; path: string | undefined }> = [];
  constructor(private readonly file: string) {}
  /** `path` undefined: a problem at exactly `prefix` is dropped (the translation reported it). */
  add(prefix: string, at: { file?: string; path: string | undefined }): void {
    this.entries.push({ prefix, file: at.file ?? this.file, path: at.path });
  }
  locate(keyPath: string): { file: string; path: string } | undefined {
    let best: (typeof this.entries)[number] | undefined;
    for (const e of this.entries) {
      const under = keyPath === e.prefix || keyPath.startsWith(e.prefix + '.') || keyPath.startsWith(e.prefix + '[');
      if (under && (best === undefined || e.prefix.length > best.prefix.length)) best = e;
    }
    if (!best) return { file: this.file, path: keyPath };
    if (best.path === undefined) return keyPath === best.prefix ? undefined : { file: best.file, path: keyPath };
    return { file: best.file, path: best.path + keyPath.slice(best.prefix.length) };
  }
}

export interface SpinTranslation {
  /** A verge.toml document. */
  doc: TomlTable;
  /** The translation's problems so far, placing the checks' problems in the Spin files. */
  problems: ManifestProblems;
}

/** Spin keys Verge has no counterpart for, with what to do instead. */
const REFUSED_COMPONENT_KEYS: Record<string, string> = {
  allowed_http_hosts: 'is Spin 1\'s form (deprecated): expected allowed_outbound_hosts = ["https://host"]',
  sqlite_databases: 'Verge has no SQLite database capability: expected key_value_stores, or [databases.NAME] (PostgreSQL) in a verge.toml',
  ai_models: 'Verge has no AI inferencing capability',
  dependencies: 'Spin\'s component dependencies are not translated: write the app as a verge.toml, whose [component.NAME.dependencies] link components (docs/composition.md)',
  dependencies_inherit_configuration: 'component dependencies are not translated (see dependencies)',
  targets: 'Verge does not check Spin target environments',
  profile: 'Spin build profiles are not supported: expected the component\'s keys without a profile',
};

export function translateSpinManifest(spin: TomlTable, file: string, runtimeConfigFile: string | undefined): SpinTranslation {
  const map = new SourceMap(file);
  const problems = new ManifestProblems(file, (p) => map.locate(p));
  const root = new Fields(problems, '', spin);
  checkVersion(root, file);
  const doc: TomlTable = {};

  const app = root.table('application', { required: true });
  if (app) {
    const out: TomlTable = {};
    for (const key of ['name', 'version', 'description']) if (app.raw[key] !== undefined) out[key] = app.value(key);
    // Metadata, as in Spin: nothing runs differently for it.
    app.stringList('authors', { expected: 'an author' });
    if (app.value('tool') !== undefined && !isTable(app.raw.tool)) problems.add(app.keyPath('tool'), `expected a table of tool settings, got ${describe(app.raw.tool)}`);
    refuse(app, 'targets', 'Verge does not check Spin target environments', problems);
    for (const [type] of app.tables('trigger')) problems.add(`application.trigger.${tomlKey(type)}`, `app-level settings of ${type} triggers are not supported: Verge serves HTTP triggers, which have none`);
    app.done();
    doc.application = out;
  }

  const variables = root.table('variables');
  if (variables) {
    const out: TomlTable = {};
    for (const [name, v] of Object.entries(variables.raw)) {
      variables.value(name);
      if (!isTable(v)) {
        out[name] = v;
        continue;
      }
      // A description documents the variable; the checks below read the rest.
      const { description, ...rest } = v;
      if (description !== undefined && typeof description !== 'string') problems.add(`variables.${tomlKey(name)}.description`, `expected a string, got ${describe(description)}`);
      out[name] = rest;
    }
    doc.variables = out;
  }

  const components: TomlTable = {};
  const executors = new Map<string, { executor: 'wagi' | 'wasi-http'; at: string }>();
  for (const [name, c] of root.tables('component')) components[name] = translateComponent(c, problems);

  const routes: TomlTable[] = [];
  let inlineCount = 0;
  const triggers = root.table('trigger', { required: true });
  for (const [type] of Object.entries(triggers?.raw ?? {})) {
    if (type === 'http') continue;
    triggers!.value(type);
    problems.add(`trigger.${tomlKey(type)}`, `${type} triggers are not supported: Verge serves HTTP triggers only ([[trigger.http]])`);
  }
  for (const t of triggers?.array('http') ?? []) {
    t.string('id', { expected: 'a trigger id' });
    refuse(t, 'static_response', 'static responses are not supported: expected a component', problems);
    refuse(t, 'components', 'a trigger\'s extra components (middleware) are not translated: expected component only', problems);
    refuse(t, 'dependencies', 'a trigger\'s dependencies are not translated: expected component only', problems);
    const route = readRoute(t, problems);
    const executor = readExecutor(t, problems);
    let component: string | undefined;
    const spec = t.value('component');
    if (spec === undefined) problems.add(t.keyPath('component'), 'is required: expected the name of a [component.NAME] table, or an inline { source = ... } table');
    else if (isTable(spec)) {
      // Named as Spin names it: "ID-component" for a trigger with an id, else "inline-componentN".
      const id = typeof t.raw.id === 'string' ? `${t.raw.id}-component` : undefined;
      component = id !== undefined && !(id in components) ? id : nextInlineName(components, () => ++inlineCount);
      components[component] = translateComponent(new Fields(problems, t.keyPath('component'), spec), problems);
      map.add(`component.${tomlKey(component)}`, { path: t.keyPath('component') });
    } else component = typeof spec === 'string' ? spec : undefined;
    if (spec !== undefined && component === undefined) problems.add(t.keyPath('component'), `expected a component name or an inline component table, got ${describe(spec)}`);
    t.done();
    if (component === undefined || route === undefined) continue;
    if (executor !== undefined) {
      const before = executors.get(component);
      if (before && before.executor !== executor) problems.add(`${t.keyPath('executor')}`, `component ${component} is ${before.executor === 'wagi' ? 'a WAGI executor' : 'a wasi:http executor'} at ${before.at}: one component has one executor`);
      else executors.set(component, { executor, at: t.keyPath('executor') });
    }
    const at = `route[${routes.length}]`;
    map.add(at, { path: t.path });
    map.add(`${at}.path`, { path: t.keyPath('route') });
    map.add(`${at}.private`, { path: t.keyPath('route') });
    routes.push(route === 'private' ? { path: `/.spin-private/${component}`, component, private: true } : { path: route, component });
  }
  // No route: the checks say so as "[[route]]"; the spin.toml's words are [[trigger.http]].
  if (routes.length === 0 && triggers) problems.add('trigger.http', 'is required: expected at least one [[trigger.http]] with a route and a component');
  map.add('route', { path: undefined });
  triggers?.done();
  root.value('spin_manifest_version');
  root.done();

  for (const [name, { executor }] of executors) if (isTable(components[name])) (components[name] as TomlTable).executor = executor;
  doc.component = components;
  doc.route = routes;
  if (runtimeConfigFile !== undefined) {
    const stores = readRuntimeConfig(runtimeConfigFile, path.dirname(file), problems, map);
    if (Object.keys(stores).length > 0) doc.key_value_stores = stores;
  }
  return { doc, problems };
}

function checkVersion(root: Fields, file: string): void {
  const v = root.raw.spin_manifest_version;
  if (v === 2n) return;
  const key = 'spin_manifest_version' in root.raw ? 'spin_manifest_version' : 'spin_version';
  // Version 1 has another shape throughout; reading on would only produce noise.
  throw new VergeError(
    'MANIFEST_INVALID',
    `${file}: ${key}: Verge reads Spin manifest version 2, got ${describe(root.raw[key])}: expected spin_manifest_version = 2 (\`spin doctor\` in Spin 2 or later converts a version 1 manifest)`,
    { problems: [{ file, path: key, message: `expected spin_manifest_version = 2, got ${describe(root.raw[key])}` }] },
  );
}

function nextInlineName(components: TomlTable, next: () => number): string {
  for (;;) {
    const name = `inline-component${next()}`;
    if (!(name in components)) return name;
  }
}

function refuse(t: Fields, key: string, why: string, problems: ManifestProblems): void {
  if (t.value(key) !== undefined) problems.add(t.keyPath(key), `is not supported: ${why}`);
}

/** `route = "/..."` or `route = { private = true }`: Spin's forms, in Verge's syntax (the same wildcard and :params). */
function readRoute(t: Fields, problems: ManifestProblems): string | 'private' | undefined {
  const raw = t.value('route');
  const key = t.keyPath('route');
  if (raw === undefined) {
    problems.add(key, 'is required: expected a route such as "/...", "/api/..." or "/users/:id", or { private = true }');
    return undefined;
  }
  if (isTable(raw)) {
    const r = new Fields(problems, key, raw);
    const isPrivate = r.boolean('private');
    r.done();
    if (isPrivate !== true) problems.add(`${key}.private`, 'expected private = true (a route table only makes a component private)');
    return isPrivate === true ? 'private' : undefined;
  }
  if (typeof raw !== 'string') {
    problems.add(key, `expected a route string or { private = true }, got ${describe(raw)}`);
    return undefined;
  }
  return spinRoute(raw);
}

/**
 * Spin's route text as Spin reads it: a leading "/" added, one trailing "/" dropped, and "/*" at the
 * end the same wildcard as "/...". ":name" segments and "/..." are Verge's syntax already.
 */
export function spinRoute(raw: string): string {
  let route = raw.startsWith('/') ? raw : `/${raw}`;
  if (route.endsWith('/*')) route = `${route.slice(0, -2)}/...`;
  if (route.length > 1 && route.endsWith('/')) route = route.slice(0, -1);
  return route === '' ? '/' : route;
}

function readExecutor(t: Fields, problems: ManifestProblems): 'wagi' | 'wasi-http' | undefined {
  const e = t.table('executor');
  if (!e) return undefined;
  const type = e.string('type', { required: true, pattern: /^(spin|http|wagi)$/, expected: '"spin" (a wasi:http component) or "wagi"' });
  if (type === 'wagi') {
    // Verge's WAGI argv is Spin's default: the path, then the query's "&"-separated items.
    const argv = e.string('argv', { expected: 'an argv template' });
    if (argv !== undefined && argv !== '${SCRIPT_NAME} ${ARGS}') problems.add(e.keyPath('argv'), `only Spin's default "\${SCRIPT_NAME} \${ARGS}" is supported, got ${JSON.stringify(argv)}`);
    const entrypoint = e.string('entrypoint', { expected: 'an exported function name' });
    if (entrypoint !== undefined && entrypoint !== '_start') problems.add(e.keyPath('entrypoint'), `only "_start" is supported (a WASI command's entry), got ${JSON.stringify(entrypoint)}`);
  }
  e.done();
  return type === undefined ? undefined : type === 'wagi' ? 'wagi' : 'wasi-http';
}

/** One [component.NAME] (or an inline one): the keys Verge reads under the same names, the rest refused. */
function translateComponent(c: Fields, problems: ManifestProblems): TomlTable {
  const out: TomlTable = {};
  const source = c.value('source');
  if (isTable(source)) {
    const how = 'url' in source ? 'a { url, digest } source is downloaded, and Verge makes no network fetch at load' : 'a registry source is downloaded, and Verge makes no network fetch at load';
    problems.add(c.keyPath('source'), `is not supported: ${how}: download the file yourself, check its digest, and set source = "path/to/file.wasm"`);
    out.source = 'unavailable.wasm';
  } else if (source === undefined) problems.add(c.keyPath('source'), 'is required: expected a path to a .wasm file, relative to the manifest');
  else out.source = source;
  // Read by the same checks under the same names.
  for (const key of ['description', 'variables', 'environment', 'files', 'exclude_files', 'key_value_stores']) {
    const v = c.value(key);
    if (v !== undefined) out[key] = v;
  }
  const hosts = c.value('allowed_outbound_hosts');
  if (Array.isArray(hosts)) {
    hosts.forEach((h, i) => {
      if (typeof h !== 'string') return;
      const at = `${c.keyPath('allowed_outbound_hosts')}[${i}]`;
      if (h.includes('{{')) problems.add(at, `templates in allowed_outbound_hosts are not supported (Verge checks the list at load): expected a literal scheme://host[:port], got ${JSON.stringify(h)}`);
      else if (/\.spin\.internal(:|$)/i.test(h)) problems.add(at, `Spin's *.spin.internal service chaining is Verge's http://NAME.verge.internal (docs/composition.md): change the guest's URL and this entry, got ${JSON.stringify(h)}`);
      else if (/^[a-z*]+:\/\/self(:|$)/i.test(h)) problems.add(at, `"self" (requests to the app's own routes) is not supported: call a component as http://NAME.verge.internal in a verge.toml (docs/composition.md), got ${JSON.stringify(h)}`);
    });
  }
  if (hosts !== undefined) out.allowed_outbound_hosts = hosts;
  const build = c.table('build');
  if (build) {
    const b: TomlTable = {};
    const command = build.value('command');
    // Several commands run one after another, stopping at the first that fails, as in Spin.
    if (Array.isArray(command) && command.length > 0 && command.every((x) => typeof x === 'string' && x.length > 0)) b.command = command.join(' && ');
    else if (Array.isArray(command)) problems.add(build.keyPath('command'), 'expected a command or a non-empty array of commands');
    else if (command !== undefined) b.command = command;
    else problems.add(build.keyPath('command'), 'is required: expected a shell command');
    for (const key of ['workdir', 'watch']) if (build.value(key) !== undefined) b[key] = build.raw[key];
    build.done();
    out.build = b;
  }
  if (c.value('tool') !== undefined && !isTable(c.raw.tool)) problems.add(c.keyPath('tool'), `expected a table of tool settings, got ${describe(c.raw.tool)}`);
  for (const [key, why] of Object.entries(REFUSED_COMPONENT_KEYS)) refuse(c, key, why, problems);
  c.done();
  return out;
}
