/** The validated, frozen shape of an application: what the rest of Verge reads. */
import type { KvStoreDecl } from '../capabilities/kv/schema.js';
import type { VariableDecl } from '../capabilities/variables/schema.js';
import type { OutboundPolicy } from '../capabilities/outbound-http/policy.js';
import type { PgDatabaseDecl } from '../capabilities/postgres/schema.js';
import type { RedisConnectionDecl, RedisTriggerDecl } from '../capabilities/redis/schema.js';
import type { RoutePattern } from '../ingress/router.js';
import type { HostPattern } from './hosts.js';
import type { FileMounts } from '../capabilities/files/schema.js';
import type { CapabilityComponentFields } from '../capabilities/capability.js';

export interface Limits {
  memoryMib: number;
  timeoutMs: number;
  maxRequestBytes: number;
  maxResponseBytes: number;
  /** Total time for one outbound HTTP call (DNS, connect, redirects, body). */
  outboundTimeoutMs: number;
}

/** The defaults, in one place (DESIGN.md's limits table). */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  memoryMib: 128,
  timeoutMs: 30_000,
  maxRequestBytes: 10 * 1024 * 1024,
  maxResponseBytes: 32 * 1024 * 1024,
  outboundTimeoutMs: 10_000,
});

/** A module file larger than this is rejected before it is read or compiled. */
export const MAX_MODULE_BYTES = 64 * 1024 * 1024;

/** How `verge build` makes the component's .wasm: a shell command, or Verge's own TypeScript build. */
export type BuildConfig =
  | { kind: 'command'; command: string; /** Absolute. */ workdir: string; watch: readonly string[] }
  | {
      kind: 'typescript';
      /** Absolute path of the handler's entry file (.ts or .js). */
      entry: string;
      /** Absolute. */
      workdir: string;
      watch: readonly string[];
    };

export interface ComponentConfig {
  name: string;
  /** Absolute path of the .wasm file. */
  source: string;
  description: string | undefined;
  limits: Limits;
  build: BuildConfig | undefined;
  /** Grants: default-deny, each names what the component may use. */
  keyValueStores: readonly string[];
  allowedOutboundHosts: readonly string[];
  /** The same list, parsed once at load; undefined when it is empty (default-deny). */
  outboundPolicy: OutboundPolicy | undefined;
  /** `trace_propagation` (default true): outbound requests carry the request's `traceparent` when tracing is on. */
  tracePropagation: boolean;
  /** The variables it may read, by the names it reads them under. */
  variables: readonly string[];
  /** Spin's component variables: each name's template of app variables (`{{ host }}`); undefined: the names are app variables. */
  variableTemplates: ReadonlyMap<string, string> | undefined;
  /** `environment`: variables of the guest's process environment (WASI environ, wasi:cli/environment), beside WAGI's CGI ones. */
  environment: ReadonlyArray<readonly [string, string]>;
  /** `files` and `exclude_files`: what it mounts read-only (undefined: no file system). */
  files: FileMounts | undefined;
  /** `databases`: the app's [databases.NAME] it may open by name. */
  databases: readonly string[];
  /** `[redis.NAME]` connections it may open by name. */
  redis: readonly string[];
  /**
   * Components only: how many requests one instance serves before it is dropped (1 = a fresh
   * instance per request, the default). Never concurrently; see docs/components.md.
   */
  instanceReuse: number;
  /**
   * `executor`: what the module must be, when the manifest says (a spin.toml's trigger does): a
   * WASI command run as WAGI, or a wasi:http component. Unset: whichever the binary is.
   */
  executor?: 'wagi' | 'wasi-http' | undefined;
  /** `[component.NAME.dependencies]`: components linked to satisfy some of its imports (docs/composition.md). */
  dependencies: readonly DependencyConfig[];
}

/**
 * One entry of `[component.NAME.dependencies]`: a component — another of the app's, or a file —
 * whose exports satisfy some of this component's imports, instantiated with it.
 */
export interface DependencyConfig {
  /** The key as written: an interface (`acme:auth/verify`, maybe `@0.1.0`) or a whole package (`acme:auth`). */
  key: string;
  /** The key parsed: it matches the imports of this package, and interface and version when given. */
  target: DependencyTarget;
  /** `component = "auth"` (another component of the app, of which only the source counts) or `path = "auth.wasm"`. */
  from: { component: string } | { path: string };
  /** For messages: the component's name, or the path as written. */
  name: string;
  /** Absolute path of the dependency's .wasm. */
  source: string;
  /** `export = "..."`: the dependency's export that satisfies the import, when its name differs (interface keys only). */
  export: string | undefined;
  /** The parent's grants it takes, by manifest key (`inherit = ["key_value_stores"]`). */
  inherit: readonly string[];
  /** What it may use: nothing but what `inherit` took from its parent. */
  grants: CapabilityComponentFields;
}

export interface DependencyTarget {
  /** `namespace:package`. */
  package: string;
  interface: string | undefined;
  version: string | undefined;
}

/** The largest `instance_reuse` the manifest accepts. */
export const MAX_INSTANCE_REUSE = 10_000;

export interface RouteConfig {
  path: string;
  /** The path, parsed once at load. */
  pattern: RoutePattern;
  component: string;
  /** `private = true`: not reachable from outside, only by a chained call (docs/composition.md). */
  private: boolean;
  /** Components that run before `component`, in order, each passing the request on or answering it. */
  middleware: readonly string[];
}

export interface AppConfig {
  /** Absolute path of the verge.toml. */
  file: string;
  /** Its folder; relative paths resolve against it. */
  dir: string;
  name: string;
  version: string | undefined;
  description: string | undefined;
  /** The Host header values the app answers; empty: any host. */
  hosts: readonly HostPattern[];
  routes: RouteConfig[];
  components: ReadonlyMap<string, ComponentConfig>;
  keyValueStores: ReadonlyMap<string, KvStoreDecl>;
  variables: ReadonlyMap<string, VariableDecl>;
  /** `[databases.NAME]`: PostgreSQL databases the host connects to for the guests granted them. */
  databases: ReadonlyMap<string, PgDatabaseDecl>;
  /** `[redis.NAME]`: Redis servers the operator configured, opened by name. */
  redis: ReadonlyMap<string, RedisConnectionDecl>;
  /** `[[trigger.redis]]`: components run for each message on a channel. */
  redisTriggers: readonly RedisTriggerDecl[];
}
