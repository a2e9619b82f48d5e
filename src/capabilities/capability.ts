/**
 * The contract every capability meets (as Spin's factors and miniflare's plugins do). A
 * capability is one folder holding: its manifest schema (read once, at load), its named limits,
 * the state it builds on the main thread for one app version, the state it keeps per worker,
 * the guest-input checks (once, in the worker, shared by both bindings), and two thin bindings —
 * verge:v1 for WAGI modules and its wasi:* interfaces for components. index.ts lists them all.
 */
import type { Fields, ManifestProblems } from '../manifest/fields.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../telemetry/logging.js';
import type { ComponentGrants, HostCall, HostReply } from '../dispatch/protocol.js';
import type { GuestScope } from '../sandbox/scope.js';
import type { OnAppBreakerChange } from './kv/store-breakers.js';
import type { KvStore } from '../backends/store.js';
import type { DirNode } from './files/tree.js';

/** The AppConfig and ComponentConfig fields the capabilities own. */
export type CapabilityAppFields = Pick<AppConfig, 'keyValueStores' | 'variables' | 'databases' | 'redis' | 'redisTriggers'>;
export type CapabilityComponentFields = Pick<
  ComponentConfig,
  'keyValueStores' | 'allowedOutboundHosts' | 'outboundPolicy' | 'tracePropagation' | 'variables' | 'variableTemplates' | 'environment' | 'files' | 'databases' | 'redis'
>;

export interface CapabilityManifest {
  /** App-level tables (`[key_value_stores.x]`, `[variables]`); problems go to `problems`. */
  readApp?(root: Fields, problems: ManifestProblems): Partial<CapabilityAppFields>;
  /** The component's grants, checked against what the app declares. */
  readComponent?(c: Fields, app: CapabilityAppFields, problems: ManifestProblems): Partial<CapabilityComponentFields>;
  /**
   * Checks across tables once every component and route is read: a grant naming another
   * component, a template naming a declared variable, a trigger naming a component.
   */
  checkApp?(app: CapabilityAppFields & Pick<AppConfig, 'components' | 'routes'>, problems: ManifestProblems): void;
}

/** What the main thread gives a capability to build an app version's state. */
export interface HostContext {
  /** Stores live under this folder, relative to the app's folder. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  envFile: string | undefined;
  logger: Logger;
  onBreaker: OnAppBreakerChange | undefined;
  /**
   * State shared by every version of this app (a store), made on first use under `key` and
   * closed with the host: two versions of one app see the same data.
   */
  shared<T>(key: string, make: () => T, close: (value: T) => Promise<void>): T;
  /** The version's mounted files: each component's tree, by name (capabilities/files). */
  files: ReadonlyMap<string, DirNode> | undefined;
}

/** One inbound request's main-thread state, across capabilities. */
export interface RequestContext {
  /** Aborted when the request ends: stops its outbound calls. */
  signal: AbortSignal;
  local<T>(key: string, make: () => T): T;
}

type HostHandlers = { [Op in HostCall['op']]?: (call: Extract<HostCall, { op: Op }>, request: RequestContext) => Promise<HostReply> };

/** What of a store an operator's browser may call: reads only. */
export type ReadableStore = Pick<KvStore, 'get' | 'listKeys'>;

/** What an operator's write may call (`verge kv set/delete --from`, behind the node's --kv-writes). */
export type WritableStore = Pick<KvStore, 'set' | 'delete'>;

/** One of an app's stores, for the dashboard's key-value browser and `verge kv --from`. */
import type { ReplicationStatus } from '../backends/replicated/status.js';

export interface StoreView {
  readonly name: string;
  readonly backend: string;
  /** Runs `use` on the store opened for reading; a store nothing wrote to yet reads as empty and is not created. */
  read<T>(use: (store: ReadableStore) => Promise<T>): Promise<T>;
  /** Runs `use` on the store opened for writing (created if need be); the admin API allows it only with --kv-writes. */
  write<T>(use: (store: WritableStore) => Promise<T>): Promise<T>;
  /** A replicated store's replication state (backends/replicated/status.ts); undefined for other backends. */
  replication?(): ReplicationStatus | undefined;
}

/** A capability's state for one app version. */
export interface PreparedCapability {
  /**
   * Its part of a component's grants: plain data for the worker. For a dependency, `c` is the
   * dependency (its fields what its entry inherits) and `parent` the component it serves.
   */
  grants?(c: ComponentConfig, parent?: ComponentConfig): Partial<ComponentGrants>;
  /** The host calls it answers, by op. */
  hostCalls?: HostHandlers;
  /** The version is unloaded. Shared state (stores) stays. */
  release?(): void;
  /** The stores it serves, to browse (the key-value capability). */
  stores?: readonly StoreView[];
}

/**
 * A grant key a component's dependency may take from its parent (`inherit = ["key_value_stores"]`):
 * the manifest key and the config fields it sets. A dependency starts with none of them.
 */
export interface InheritableGrant {
  readonly key: string;
  readonly fields: ReadonlyArray<keyof CapabilityComponentFields>;
}

export interface Capability {
  readonly name: string;
  readonly manifest: CapabilityManifest;
  /** The grants a dependency may inherit from its parent component (docs/composition.md). */
  readonly inheritable?: readonly InheritableGrant[];
  /** Its verge:v1 functions and wasi:* interfaces: a module importing anything no capability provides fails at load. */
  readonly provides: { readonly vergeV1: readonly string[]; readonly wasi: readonly string[] };
  /** The main thread answers TIMEOUT after this long (the pool ends the request itself at its deadline). */
  readonly hostCallTimeoutMs?: number;
  /** Validates and builds one app version's state; a problem (a missing variable) throws a VergeError. */
  prepare?(app: AppConfig, ctx: HostContext): PreparedCapability;
  /** Releases what the capability holds for the whole node (pooled connections). */
  close?(): Promise<void>;
  readonly bindings: {
    wasiP1(scope: GuestScope): Record<string, (...args: never[]) => number>;
    component(scope: GuestScope): Record<string, Record<string, unknown>>;
  };
}
