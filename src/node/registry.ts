/**
 * The apps a node serves: app → its deployment (one or more versions, each with a weight), and
 * the versions still finishing requests.
 *
 * A request binds to one version when it is admitted (`bind`) and finishes on it (`release`).
 * Deploying loads every new version's modules into every worker first; only then does one
 * assignment swap the routing table, so a request sees either the old deployment or the new one,
 * never a mix. A version that leaves the deployment is retired: it takes no new requests, and
 * once its last request ends its modules are unloaded from the workers and its capability state
 * is released. A version that fails to load never replaces the serving ones. A version kept from
 * one deployment to the next (a ramp, a rollback to a live version) is not loaded again.
 */
import { VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { LoadedComponent } from '../loader/module.js';
import type { DirNode } from '../capabilities/files/tree.js';
import type { LoadedVersion } from '../loader/app-version.js';
import { withGrants } from '../loader/dependencies.js';
import type { CalleeSpec, ModuleSpec } from '../dispatch/protocol.js';
import type { WorkerPool } from '../dispatch/pool.js';
import { RoutingTable, describeConflicts, type AppRoutes } from '../ingress/routing-table.js';
import { Router, patternShape, type RouteMatch } from '../ingress/router.js';
import type { CapabilityHost, PreparedApp } from '../capabilities/index.js';
import { chooseVersion, type DeploymentPolicy, type RequestFacts } from '../deploy/choose.js';
import type { Split } from '../deploy/split.js';
import type { Override } from '../deploy/override.js';
import { SlidingWindow } from '../deploy/window.js';

export interface ServingVersion {
  /** Unique per install: the key the workers hold its modules under. */
  readonly key: string;
  /** Content id (hex SHA-256 of the manifest and modules). */
  readonly id: string;
  /** The id's first 12 characters: the `x-verge-version` header, logs and metrics. */
  readonly shortId: string;
  /** ['x-verge-version', shortId], made once. */
  readonly headers: readonly string[];
  readonly app: AppConfig;
  readonly components: readonly LoadedComponent[];
  /** Each component's mounted files (`files`), by component name. */
  readonly files: ReadonlyMap<string, DirNode> | undefined;
  readonly installedAt: Date;
  /** Its own routes: a request the split sends here is routed again among them. */
  readonly router: Router<RouteTarget>;
  /** Requests, 5xx and latency over the last minute, for status and automatic rollback. */
  readonly stats: SlidingWindow;
  inflight: number;
  retired: boolean;
  capabilities: PreparedApp;
}

export interface RouteTarget {
  version: ServingVersion;
  component: ComponentConfig;
  /** The route's middleware, in order: the first one receives the request (docs/composition.md). */
  middleware: readonly ComponentConfig[];
}

export interface DeploymentEntry {
  readonly version: ServingVersion;
  readonly weight: number;
}

/** What serves an app: its versions with their weights, and how requests are split among them. */
export interface Deployment {
  readonly app: string;
  readonly entries: readonly DeploymentEntry[];
  readonly policy: DeploymentPolicy;
  /** The entries as a split over version ids (split.ts), and the ids an override may name. */
  readonly split: Split;
  readonly ids: readonly string[];
}

/** A table entry: a route served by one version, or by a deployment that must choose first. */
type TableTarget = RouteTarget | { deployment: Deployment };

/** A request's hold on its version; `release` once, when the request has its answer. */
export interface Binding extends RouteMatch<RouteTarget> {
  /** Response headers the node adds: `x-verge-version`, and a sticky cookie when one was set. */
  readonly headers: readonly string[];
  /** `status` and `ms` feed the version's window (omitted when the request never got an answer). */
  release(status?: number, ms?: number): void;
}

export type InstallResult =
  | { kind: 'installed'; version: ServingVersion; replaced: ServingVersion | undefined }
  | { kind: 'unchanged'; version: ServingVersion };

/** A version to deploy: already serving in this app (by id), or loaded and new. */
export type DeployItem = { loaded: LoadedVersion; weight: number } | { id: string; weight: number };

export interface DeployOptions {
  policy?: DeploymentPolicy;
  /** Capability options for new versions (an uploaded app's stores live under the node's data dir). */
  dataDir?: string | undefined;
}

export interface RegistryDeps {
  pool: WorkerPool;
  capabilities: CapabilityHost;
  /** A retired version's modules left the workers. */
  onUnload?: (version: ServingVersion) => void;
  /** Who may pick a version with the override header or cookie. */
  override?: Override | undefined;
  /** What serves `app` changed (a deploy, a swap, a rollback): triggers follow it. */
  onDeployed?: (app: string) => void;
}

const NO_FACTS: RequestFacts = { headers: {}, clientAddress: '' };

export class AppRegistry {
  private readonly deployed = new Map<string, Deployment>();
  private readonly retiring = new Set<ServingVersion>();
  private table: RoutingTable<TableTarget> = RoutingTable.empty<TableTarget>();
  private installs = 0;
  /** Deploys run one at a time, so each sees the result of the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: RegistryDeps) {}

  /** Each app's primary version (the heaviest in its deployment), by app name. */
  get apps(): ReadonlyMap<string, ServingVersion> {
    return new Map([...this.deployed].map(([name, d]) => [name, primary(d)]));
  }

  get deployments(): ReadonlyMap<string, Deployment> {
    return this.deployed;
  }

  /** Versions replaced but still finishing requests. */
  get draining(): readonly ServingVersion[] {
    return [...this.retiring];
  }

  /**
   * Finds the route and binds the request to the version serving it (the deployment's split
   * decides when there are several). Throws URIError on a bad escape in a parameter.
   */
  bind(host: string | undefined, path: string, facts: RequestFacts = NO_FACTS): Binding | undefined {
    const found = this.table.match(host, path);
    if (!found) return undefined;
    let match: RouteMatch<RouteTarget>;
    let headers: readonly string[];
    const t = found.target;
    if ('deployment' in t) {
      const chosen = chooseVersion(t.deployment, facts, this.deps.override);
      const inVersion = chosen.version.router.match(path);
      // The version the split chose does not route this path (another version added it): its 404.
      if (!inVersion) return undefined;
      match = inVersion;
      headers = chosen.headers.length === 0 ? chosen.version.headers : [...chosen.version.headers, ...chosen.headers];
    } else {
      match = found as RouteMatch<RouteTarget>;
      headers = t.version.headers;
    }
    return { ...match, headers, release: this.holdVersion(match.target.version) };
  }

  /**
   * Binds work that comes through no route (a trigger's message) to the version serving `app`
   * now, the heaviest of its deployment, as `bind` binds a request; undefined when the app is
   * not deployed or that version has no such component.
   */
  holdServing(app: string, component: string): { version: ServingVersion; component: ComponentConfig; release(status?: number, ms?: number): void } | undefined {
    const d = this.deployed.get(app);
    if (!d) return undefined;
    const version = primary(d);
    const c = version.app.components.get(component);
    if (!c) return undefined;
    return { version, component: c, release: this.holdVersion(version) };
  }

  /** Counts a request on `version` until the returned release runs (once); a retired version unloads after its last. */
  private holdVersion(version: ServingVersion): (status?: number, ms?: number) => void {
    version.inflight++;
    let released = false;
    return (status?: number, ms?: number) => {
      if (released) return;
      released = true;
      if (status !== undefined && ms !== undefined) version.stats.record(status, ms);
      version.inflight--;
      if (version.retired && version.inflight === 0) this.unload(version);
    };
  }

  /**
   * Holds the live version with this key for a chained call (docs/composition.md), so it is not
   * unloaded while the call runs; `release` once. Undefined when no such version is loaded.
   */
  hold(key: string): { version: ServingVersion; release(): void } | undefined {
    const version = this.versionByKey(key);
    return version && { version, release: this.holdVersion(version) };
  }

  private versionByKey(key: string): ServingVersion | undefined {
    for (const d of this.deployed.values()) for (const e of d.entries) if (e.version.key === key) return e.version;
    for (const v of this.retiring) if (v.key === key) return v;
    return undefined;
  }

  /** Serves `loaded` alone (a file app's version, a watch-mode reload). */
  install(loaded: LoadedVersion, opts: DeployOptions = {}): Promise<InstallResult> {
    return this.serialize(async () => {
      const name = loaded.app.name;
      const before = this.deployed.get(name);
      if (before && before.entries.length === 1 && before.entries[0]!.version.id === loaded.id) {
        return { kind: 'unchanged', version: before.entries[0]!.version };
      }
      const d = await this.deployNow(name, [{ loaded, weight: 100 }], opts);
      return { kind: 'installed', version: d.entries[0]!.version, replaced: before ? primary(before) : undefined };
    });
  }

  /** Sets what serves `app`: every version with its weight (at least one weight above 0). */
  deploy(app: string, items: readonly DeployItem[], opts: DeployOptions = {}): Promise<Deployment> {
    return this.serialize(() => this.deployNow(app, items, opts));
  }

  /** Changes weights or policy without loading anything (automatic rollback, ramps of live versions). */
  reweigh(app: string, weights: ReadonlyMap<string, number>, policy?: DeploymentPolicy): Promise<Deployment> {
    return this.serialize(async () => {
      const d = this.deployed.get(app);
      if (!d) throw new VergeError('APP_NOT_FOUND', `no app named ${app} is deployed on this node`);
      return this.deployNow(app, d.entries.map((e) => ({ id: e.version.id, weight: weights.get(e.version.id) ?? e.weight })), { policy: policy ?? d.policy });
    });
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.queue.then(work);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async deployNow(name: string, items: readonly DeployItem[], opts: DeployOptions): Promise<Deployment> {
    const before = this.deployed.get(name);
    if (items.length === 0 || !items.some((i) => i.weight > 0)) {
      throw new VergeError('DEPLOYMENT_INVALID', `app ${name}: a deployment needs at least one version with a weight above 0`);
    }
    const live = new Map((before?.entries ?? []).map((e) => [e.version.id, e.version]));
    const fresh: ServingVersion[] = [];
    const entries: DeploymentEntry[] = [];
    for (const item of items) {
      const id = 'loaded' in item ? item.loaded.id : item.id;
      if (entries.some((e) => e.version.id === id)) throw new VergeError('DEPLOYMENT_INVALID', `app ${name}: version ${id.slice(0, 12)} is listed twice`);
      let version = live.get(id);
      if (!version) {
        if (!('loaded' in item)) throw new VergeError('VERSION_NOT_FOUND', `app ${name}: version ${id.slice(0, 12)} is not loaded on this node`);
        if (item.loaded.app.name !== name) throw new VergeError('DEPLOYMENT_INVALID', `version ${id.slice(0, 12)} belongs to app ${item.loaded.app.name}, not ${name}`);
        version = this.newVersion(item.loaded, (opts.policy ?? before?.policy)?.autoRollback?.windowSeconds);
        fresh.push(version);
      }
      entries.push({ version, weight: item.weight });
    }
    const deployment: Deployment = {
      app: name,
      entries,
      policy: opts.policy ?? before?.policy ?? {},
      split: entries.map((e) => ({ version: e.version.id, weight: e.weight })),
      ids: entries.map((e) => e.version.id),
    };
    const next = new Map(this.deployed);
    next.set(name, deployment);
    const built = RoutingTable.build([...next.values()].map(routesOf));
    if ('conflicts' in built) throw new VergeError('APP_CONFLICT', describeConflicts(built.conflicts));

    const prepared: ServingVersion[] = [];
    try {
      for (const version of fresh) {
        version.capabilities = this.deps.capabilities.prepare(version.key, version.app, { dataDir: opts.dataDir, files: version.files });
        prepared.push(version);
        const modules = version.components.map((c): ModuleSpec => ({ ...withGrants(c.spec, (component, dependency) => version.capabilities.grantsFor(component, dependency)), callee: calleeSpec(version.app, c.spec.component) }));
        try {
          await this.deps.pool.load(version.key, modules);
        } catch (err) {
          throw new VergeError('MODULE_INVALID', `app ${name}: a worker could not load the new version: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
      }
    } catch (err) {
      for (const v of prepared) {
        this.deps.pool.unload(v.key);
        v.capabilities.release();
      }
      throw err;
    }

    // The swap: from here new requests bind to the new deployment.
    this.deployed.set(name, deployment);
    this.table = built.table;
    const kept = new Set(entries.map((e) => e.version));
    for (const e of before?.entries ?? []) if (!kept.has(e.version)) this.retire(e.version);
    this.deps.onDeployed?.(name);
    return deployment;
  }

  /** `windowSeconds`: how far back its stats look (the deployment's auto-rollback window; default 60 s). */
  private newVersion(loaded: LoadedVersion, windowSeconds = 60): ServingVersion {
    const key = versionKey(loaded.app.name, loaded.id.slice(0, 12), ++this.installs);
    const version: ServingVersion = {
      key,
      id: loaded.id,
      shortId: loaded.id.slice(0, 12),
      headers: Object.freeze(['x-verge-version', loaded.id.slice(0, 12)]),
      app: loaded.app,
      components: loaded.components,
      files: loaded.mounted?.trees,
      installedAt: new Date(),
      router: new Router<RouteTarget>(),
      stats: new SlidingWindow({ windowMs: windowSeconds * 1000 }),
      inflight: 0,
      retired: false,
      capabilities: undefined as unknown as PreparedApp,
    };
    for (const r of publicRoutes(loaded.app)) version.router.add(r.pattern, routeTarget(version, r));
    return version;
  }

  private retire(version: ServingVersion): void {
    version.retired = true;
    if (version.inflight === 0) this.unload(version);
    else this.retiring.add(version);
  }

  private unload(version: ServingVersion): void {
    this.retiring.delete(version);
    this.deps.pool.unload(version.key);
    version.capabilities.release();
    this.deps.onUnload?.(version);
  }
}

/** The version with the largest weight (the first of equals): the one `apps` reports. */
export function primary(d: Deployment): ServingVersion {
  let best = d.entries[0]!;
  for (const e of d.entries) if (e.weight > best.weight) best = e;
  return best.version;
}

/**
 * A deployment's routes in the table. One version: its routes point at it directly, so a request
 * is routed once. Several: the union of their routes (hosts too) points at the deployment, and the
 * version the split chooses routes the request again among its own (a version bound to other
 * hosts than the request's still answers it: hosts are the app's, versions should agree on them).
 */
function routesOf(d: Deployment): AppRoutes<TableTarget> {
  if (d.entries.length === 1) {
    const v = d.entries[0]!.version;
    return { app: d.app, hosts: v.app.hosts, routes: publicRoutes(v.app).map((r) => ({ pattern: r.pattern, target: routeTarget(v, r) })) };
  }
  const hosts = new Map<string, AppConfig['hosts'][number]>();
  const routes = new Map<string, { pattern: AppConfig['routes'][number]['pattern']; target: TableTarget }>();
  for (const { version } of d.entries) {
    for (const h of version.app.hosts) hosts.set(JSON.stringify(h), h);
    for (const r of publicRoutes(version.app)) {
      const shape = patternShape(r.pattern);
      if (!routes.has(shape)) routes.set(shape, { pattern: r.pattern, target: { deployment: d } });
    }
  }
  // A version bound to no host answers every host, and so does the deployment.
  const anyHost = d.entries.some((e) => e.version.app.hosts.length === 0);
  return { app: d.app, hosts: anyHost ? [] : [...hosts.values()], routes: [...routes.values()] };
}

/** The routes requests from outside reach: a private route is for chained calls only. */
function publicRoutes(app: AppConfig): AppConfig['routes'] {
  return app.routes.filter((r) => !r.private);
}

function routeTarget(version: ServingVersion, r: AppConfig['routes'][number]): RouteTarget {
  const component = (name: string) => version.app.components.get(name)!;
  return { version, component: component(r.component), middleware: r.middleware.map(component) };
}

/** A version's key, unique per install: APP@SHORTID#N (an app name has no "@"). */
function versionKey(app: string, shortId: string, install: number): string {
  return `${app}@${shortId}#${install}`;
}

/** The app and short version id a key names, for log records made where only the key is known. */
export function versionKeyParts(key: string): { app?: string; version?: string } {
  const at = key.indexOf('@');
  if (at === -1) return {};
  const hash = key.indexOf('#', at);
  return { app: key.slice(0, at), version: key.slice(at + 1, hash === -1 ? undefined : hash) };
}

/** What a worker needs to run a component as a chained call's callee: its own routes (private ones included) and limits. */
function calleeSpec(app: AppConfig, component: string): CalleeSpec | undefined {
  const c = app.components.get(component);
  if (!c) return undefined;
  return { routes: app.routes.filter((r) => r.component === component).map((r) => r.pattern.pattern), timeoutMs: c.limits.timeoutMs, maxRequestBytes: c.limits.maxRequestBytes };
}
