/**
 * verge.toml → AppConfig: read the file, parse TOML, validate strictly (every problem names the
 * file, the key and what was expected), resolve paths against the manifest's folder, apply the
 * defaults, freeze. A spin.toml goes through the same checks once translated (manifest/spin.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml';
import { VergeError } from '../errors.js';
import { parsePattern, patternShape } from '../ingress/router.js';
import { DEFAULT_LIMITS, MAX_INSTANCE_REUSE, type AppConfig, type BuildConfig, type ComponentConfig, type Limits, type RouteConfig } from './config.js';
import { Fields, ManifestProblems, tomlKey } from './fields.js';
import { INTERNAL_DOMAIN, NEXT_COMPONENT, isInternalHost, parseHostPattern, type HostPattern } from './hosts.js';
import { explainTomlError } from './toml-errors.js';
import { CAPABILITY_LIST } from '../capabilities/index.js';
import type { Capability, CapabilityAppFields, CapabilityComponentFields } from '../capabilities/capability.js';
import { checkDependencyOnlyComponents, readDependencies, servesRoutes } from './dependencies.js';
import { SPIN_MANIFEST_FILE, isSpinManifest, translateSpinManifest } from './spin.js';

export const MANIFEST_FILE = 'verge.toml';
/** App and component names. */
export const NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;
const NAME_EXPECTED = 'a name of lowercase letters, digits, "-" and "_" (at most 64 characters, starting and ending with a letter or digit)';
const MIB = 1024 * 1024;

/** What a manifest loads with besides its own text. */
export interface LoadOptions {
  /** A Spin runtime config (`--runtime-config-file`): its key-value stores, for a spin.toml only. */
  runtimeConfigFile?: string | undefined;
}

/**
 * PATH is a manifest or a folder holding one: its verge.toml, or else its spin.toml (a Spin
 * app, translated at load: manifest/spin.ts).
 */
export function resolveManifestPath(target = '.'): string {
  const abs = path.resolve(target);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new VergeError('MANIFEST_INVALID', `${abs}: no such file or folder`);
  }
  if (!isDir) return abs;
  const verge = path.join(abs, MANIFEST_FILE);
  return existsSync(verge) || !existsSync(path.join(abs, SPIN_MANIFEST_FILE)) ? verge : path.join(abs, SPIN_MANIFEST_FILE);
}

export function loadManifest(target = '.', opts: LoadOptions = {}): AppConfig {
  const file = resolveManifestPath(target);
  return readApp(readManifestText(file), file, opts).app;
}

export function readManifestText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new VergeError('MANIFEST_INVALID', `${file}: there is no ${MANIFEST_FILE} here, nor a ${SPIN_MANIFEST_FILE} (ENOENT): create an app with \`verge new ts-http <name>\` (\`verge new --help\` lists the templates), or name a folder that has one`);
    }
    throw new VergeError('MANIFEST_INVALID', `${file}: cannot read the manifest (${code ?? String(err)})`);
  }
}

/**
 * A manifest's text → the app, and the verge.toml text it stands for: the text itself, or, for a
 * Spin manifest (it has `spin_manifest_version`), its translation, which is what a version holds.
 */
export function readApp(text: string, file: string, opts: LoadOptions = {}, capabilities: readonly Capability[] = CAPABILITY_LIST): { app: AppConfig; vergeText: string } {
  const doc = parseTomlText(text, file);
  if (isSpinManifest(doc)) {
    const spin = translateSpinManifest(doc, file, opts.runtimeConfigFile);
    return { app: checkManifest(spin.doc, file, spin.problems, capabilities), vergeText: stringifyToml(spin.doc) };
  }
  if (opts.runtimeConfigFile !== undefined) {
    throw new VergeError('MANIFEST_INVALID', `${opts.runtimeConfigFile}: a runtime config file is read for a spin.toml only; ${file} is a verge.toml, which declares its stores itself ([key_value_stores.NAME])`);
  }
  return { app: checkManifest(doc, file, new ManifestProblems(file), capabilities), vergeText: text };
}

/** `capabilities`: the map in capabilities/index.ts unless a test brings its own. */
export function parseManifest(text: string, file: string, capabilities: readonly Capability[] = CAPABILITY_LIST): AppConfig {
  return checkManifest(parseTomlText(text, file), file, new ManifestProblems(file), capabilities);
}

export function parseTomlText(text: string, file: string): Record<string, unknown> {
  try {
    // Integers as bigint, so a TOML float such as 64.0 (a JS integer) is told apart and refused.
    return parseToml(text, { integersAsBigInt: true }) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      throw new VergeError('MANIFEST_INVALID', `${file}:${err.line}:${err.column}: not valid TOML: ${explainTomlError(err, text)}`);
    }
    throw err;
  }
}

/**
 * The checks, on a parsed verge.toml document: `problems` may already hold some (a translation's)
 * and may place each at another file's key (manifest/spin.ts). Throws them all, or returns the app.
 */
export function checkManifest(doc: Record<string, unknown>, file: string, problems: ManifestProblems, capabilities: readonly Capability[] = CAPABILITY_LIST): AppConfig {
  const dir = path.dirname(file);
  const root = new Fields(problems, '', doc);

  const app = root.table('application', { required: true });
  const name = app?.string('name', { required: true, pattern: NAME, expected: NAME_EXPECTED });
  const version = app?.string('version');
  const description = app?.string('description');
  const hosts: HostPattern[] = [];
  for (const [i, raw] of (app?.stringList('hosts', { expected: 'a host name such as "api.example.com" or "*.example.org"' }) ?? []).entries()) {
    const parsed = parseHostPattern(raw);
    if (typeof parsed === 'string') problems.add(`application.hosts[${i}]`, `${parsed}, got ${JSON.stringify(raw)}`);
    else if (isInternalHost(parsed.kind === 'exact' ? parsed.host : parsed.suffix.slice(1))) {
      problems.add(`application.hosts[${i}]`, `expected a host outside ${INTERNAL_DOMAIN}, which only chained calls inside the node use (docs/composition.md), got ${JSON.stringify(raw)}`);
    } else hosts.push(Object.freeze(parsed));
  }
  app?.done();
  // Each capability reads its own app-level tables and, below, its grants on each component.
  const capabilityFields = Object.assign({}, ...capabilities.map((cap) => cap.manifest.readApp?.(root, problems))) as CapabilityAppFields;

  const components = new Map<string, ComponentConfig>();
  for (const [componentName, c] of root.tables('component')) {
    if (!NAME.test(componentName)) problems.add(c.path, `the component name is not valid: expected ${NAME_EXPECTED}`);
    else if (componentName === NEXT_COMPONENT) {
      problems.add(c.path, `the name "${NEXT_COMPONENT}" is reserved: http://${NEXT_COMPONENT}.${INTERNAL_DOMAIN} is how a middleware passes a request on (docs/composition.md); choose another name`);
    }
    const source = c.string('source', { required: true, expected: 'a path to a .wasm file, relative to the manifest' });
    const componentDescription = c.string('description');
    const limits = readLimits(c.table('limits'));
    const grants = Object.assign({}, ...capabilities.map((cap) => cap.manifest.readComponent?.(c, capabilityFields, problems))) as CapabilityComponentFields;
    const instanceReuse = c.integer('instance_reuse', { min: 1, max: MAX_INSTANCE_REUSE, unit: 'requests per instance' }) ?? 1;
    const executor = c.string('executor', { pattern: /^(wagi|wasi-http)$/, expected: '"wagi" (a WASI command run as CGI) or "wasi-http" (a wasi:http component)' }) as ComponentConfig['executor'];
    const build = readBuild(c, dir, problems);
    const dependencies = readDependencies(c, componentName, grants, { dir, doc, capabilities, app: capabilityFields, problems });
    c.done();
    if (source === undefined) continue;
    components.set(
      componentName,
      Object.freeze({
        name: componentName,
        source: path.resolve(dir, source),
        description: componentDescription,
        limits,
        build,
        ...grants,
        instanceReuse,
        executor,
        dependencies: Object.freeze(dependencies),
      }),
    );
  }

  const routes: RouteConfig[] = [];
  const shapes = new Map<string, string>();
  const routeTables = root.array('route');
  if (routeTables.length === 0 && (doc.route === undefined || (Array.isArray(doc.route) && doc.route.length === 0))) problems.add('route', 'is required: expected at least one [[route]] with a path and a component');
  for (const r of routeTables) {
    const routePath = r.string('path', { required: true, expected: 'a route path such as "/api/hello", "/users/:id" or "/api/..."' });
    const component = r.string('component', { required: true, expected: 'the name of a [component.NAME] table' });
    const isPrivate = r.boolean('private') ?? false;
    const middleware = r.stringList('middleware', { expected: 'the name of a [component.NAME] table' });
    r.done();
    middleware.forEach((m, i) => {
      const at = `${r.path}.middleware[${i}]`;
      if (!components.has(m) && !hasComponentTable(doc, m)) problems.add(at, `no [component.${tomlKey(m)}] is defined`);
      else if (m === component) problems.add(at, `${JSON.stringify(m)} is the route's own component: expected the components that run before it`);
    });
    if (isPrivate && middleware.length > 0) {
      problems.add(`${r.path}.middleware`, 'a private route is reached only by chained calls, which go to the component itself: middleware would never run (remove one of private and middleware)');
    }
    let pattern: RouteConfig['pattern'] | undefined;
    if (routePath !== undefined) {
      const parsed = parsePattern(routePath);
      if (typeof parsed === 'string') {
        problems.add(`${r.path}.path`, `${parsed} (got ${JSON.stringify(routePath)})`);
      } else {
        pattern = parsed;
        const shape = patternShape(parsed);
        const clash = shapes.get(shape);
        if (clash !== undefined) problems.add(`${r.path}.path`, `${JSON.stringify(routePath)} matches the same requests as ${JSON.stringify(clash)}`);
        shapes.set(shape, routePath);
      }
    }
    if (component !== undefined && !components.has(component) && !hasComponentTable(doc, component)) {
      problems.add(`${r.path}.component`, `no [component.${tomlKey(component)}] is defined`);
    }
    if (routePath !== undefined && pattern !== undefined && component !== undefined) {
      routes.push({ path: routePath, pattern, component, private: isPrivate, middleware: Object.freeze(middleware) });
    }
  }
  root.done();
  // Checks across tables, components and routes (a grant naming another component, a template a variable).
  for (const cap of capabilities) cap.manifest.checkApp?.({ ...capabilityFields, components, routes }, problems);
  const dependents = new Map<string, string[]>();
  for (const c of components.values()) {
    for (const d of c.dependencies) if ('component' in d.from) dependents.set(d.from.component, [...(dependents.get(d.from.component) ?? []), c.name]);
  }
  checkDependencyOnlyComponents(doc, servesRoutes(routes), dependents, problems);

  if (problems.list.length > 0) {
    throw new VergeError('MANIFEST_INVALID', problems.list.join('\n'), { problems: problems.items });
  }
  return Object.freeze({
    file,
    dir,
    name: name!,
    version,
    description,
    hosts: Object.freeze(hosts),
    routes: Object.freeze(routes.map((r) => Object.freeze(r))) as RouteConfig[],
    components,
    ...capabilityFields,
  });
}

function hasComponentTable(doc: Record<string, unknown>, name: string): boolean {
  const c = doc.component;
  return typeof c === 'object' && c !== null && Object.prototype.hasOwnProperty.call(c, name);
}

function readLimits(t: Fields | undefined): Limits {
  if (!t) return Object.freeze({ ...DEFAULT_LIMITS });
  const memoryMib = t.integer('memory_mib', { min: 1, max: 4096, unit: 'MiB of linear memory' });
  const timeoutMs = t.integer('timeout_ms', { min: 1, max: 3_600_000, unit: 'milliseconds' });
  const maxRequestBytes = t.integer('max_request_bytes', { min: 0, max: 1024 * MIB, unit: 'bytes' });
  const maxResponseBytes = t.integer('max_response_bytes', { min: 0, max: 1024 * MIB, unit: 'bytes' });
  const outboundTimeoutMs = t.integer('outbound_timeout_ms', { min: 1, max: 600_000, unit: 'milliseconds' });
  t.done();
  return Object.freeze({
    memoryMib: memoryMib ?? DEFAULT_LIMITS.memoryMib,
    timeoutMs: timeoutMs ?? DEFAULT_LIMITS.timeoutMs,
    maxRequestBytes: maxRequestBytes ?? DEFAULT_LIMITS.maxRequestBytes,
    maxResponseBytes: maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes,
    outboundTimeoutMs: outboundTimeoutMs ?? DEFAULT_LIMITS.outboundTimeoutMs,
  });
}

function readBuild(c: Fields, dir: string, problems: ManifestProblems): BuildConfig | undefined {
  const b = c.table('build');
  if (!b) return undefined;
  const command = b.string('command', { expected: 'a shell command' });
  const typescript = b.string('typescript', { expected: 'the handler\'s entry file (.ts or .js), relative to the manifest' });
  const workdir = path.resolve(dir, b.string('workdir', { expected: 'a folder, relative to the manifest' }) ?? '.');
  const watchList = b.value('watch') === undefined ? undefined : b.stringList('watch', { expected: 'a file or glob pattern such as "src/**/*.rs", relative to the build workdir' });
  b.done();
  if (command !== undefined && typescript !== undefined) {
    problems.add(b.path, 'has both command and typescript: expected one of them');
    return undefined;
  }
  if (command !== undefined) return Object.freeze({ kind: 'command', command, workdir, watch: Object.freeze(watchList ?? []) });
  if (typescript !== undefined) {
    if (!/\.(ts|mts|js|mjs)$/.test(typescript)) {
      problems.add(`${b.path}.typescript`, `expected a .ts or .js entry file, got ${JSON.stringify(typescript)}`);
      return undefined;
    }
    const entry = path.resolve(dir, typescript);
    // By default a TypeScript build watches the sources beside its entry file and below.
    const watch = watchList ?? [path.join(path.relative(workdir, path.dirname(entry)) || '.', '**/*.{ts,mts,js,mjs,json}')];
    return Object.freeze({ kind: 'typescript', entry, workdir, watch: Object.freeze(watch) });
  }
  problems.add(b.path, 'is missing command or typescript: expected a shell command, or a TypeScript entry file for Verge to build');
  return undefined;
}
