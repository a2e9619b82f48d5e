/**
 * The apps a node serves: app → its serving version, and the versions still finishing requests.
 *
 * A request binds to one version when it is admitted (`bind`) and finishes on it (`release`).
 * Installing a version loads its modules into every worker first; only then does one assignment
 * swap the routing table, so a request sees either the old version or the new one, never a mix.
 * The replaced version is retired: it takes no new requests, and once its last request ends its
 * modules are unloaded from the workers and its capability state is released. A version that
 * fails to load never replaces the serving one.
 */
import { VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { LoadedComponent } from '../loader/module.js';
import type { LoadedVersion } from '../loader/app-version.js';
import type { ModuleSpec } from '../dispatch/protocol.js';
import type { WorkerPool } from '../dispatch/pool.js';
import { RoutingTable, describeConflicts, type AppRoutes } from '../ingress/routing-table.js';
import type { RouteMatch } from '../ingress/router.js';
import type { CapabilityHost, PreparedApp } from '../capabilities/index.js';

export interface ServingVersion {
  /** Unique per install: the key the workers hold its modules under. */
  readonly key: string;
  /** Content id (hex SHA-256 of the manifest and modules). */
  readonly id: string;
  readonly app: AppConfig;
  readonly components: readonly LoadedComponent[];
  readonly installedAt: Date;
  inflight: number;
  retired: boolean;
  capabilities: PreparedApp;
}

export interface RouteTarget {
  version: ServingVersion;
  component: ComponentConfig;
}

/** A request's hold on its version; `release` once, when the request has its answer. */
export interface Binding extends RouteMatch<RouteTarget> {
  release(): void;
}

export type InstallResult =
  | { kind: 'installed'; version: ServingVersion; replaced: ServingVersion | undefined }
  | { kind: 'unchanged'; version: ServingVersion };

export interface RegistryDeps {
  pool: WorkerPool;
  capabilities: CapabilityHost;
  /** A retired version's modules left the workers. */
  onUnload?: (version: ServingVersion) => void;
}

export class AppRegistry {
  private readonly serving = new Map<string, ServingVersion>();
  private readonly retiring = new Set<ServingVersion>();
  private table: RoutingTable<RouteTarget> = RoutingTable.empty<RouteTarget>();
  private installs = 0;
  /** Installs run one at a time, so each sees the result of the one before. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: RegistryDeps) {}

  /** The serving versions, by app name. */
  get apps(): ReadonlyMap<string, ServingVersion> {
    return this.serving;
  }

  /** Versions replaced but still finishing requests. */
  get draining(): readonly ServingVersion[] {
    return [...this.retiring];
  }

  /** Finds the route and binds the request to the version serving it. Throws URIError on a bad escape. */
  bind(host: string | undefined, path: string): Binding | undefined {
    const match = this.table.match(host, path);
    if (!match) return undefined;
    const version = match.target.version;
    version.inflight++;
    let released = false;
    return {
      ...match,
      release: () => {
        if (released) return;
        released = true;
        version.inflight--;
        if (version.retired && version.inflight === 0) this.unload(version);
      },
    };
  }

  install(loaded: LoadedVersion): Promise<InstallResult> {
    const next = this.queue.then(() => this.installNow(loaded));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async installNow(loaded: LoadedVersion): Promise<InstallResult> {
    const name = loaded.app.name;
    const current = this.serving.get(name);
    if (current && current.id === loaded.id) return { kind: 'unchanged', version: current };

    const key = `${name}@${loaded.id.slice(0, 12)}#${++this.installs}`;
    const version: ServingVersion = {
      key,
      id: loaded.id,
      app: loaded.app,
      components: loaded.components,
      installedAt: new Date(),
      inflight: 0,
      retired: false,
      capabilities: undefined as unknown as PreparedApp,
    };
    const nextServing = new Map(this.serving);
    nextServing.set(name, version);
    const built = RoutingTable.build([...nextServing.values()].map(routesOf));
    if ('conflicts' in built) throw new VergeError('APP_CONFLICT', describeConflicts(built.conflicts));

    version.capabilities = this.deps.capabilities.prepare(key, loaded.app);
    const modules = loaded.components.map((c): ModuleSpec => ({ ...c.spec, grants: version.capabilities.grantsFor(c.spec.component) }) as ModuleSpec);
    try {
      await this.deps.pool.load(key, modules);
    } catch (err) {
      version.capabilities.release();
      throw new VergeError('MODULE_INVALID', `app ${name}: a worker could not load the new version: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }

    // The swap: from here new requests bind to the new version.
    this.serving.set(name, version);
    this.table = built.table;
    if (current) this.retire(current);
    return { kind: 'installed', version, replaced: current };
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

function routesOf(v: ServingVersion): AppRoutes<RouteTarget> {
  return {
    app: v.app.name,
    hosts: v.app.hosts,
    routes: v.app.routes.map((r) => ({ pattern: r.pattern, target: { version: v, component: v.app.components.get(r.component)! } })),
  };
}
