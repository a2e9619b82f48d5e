/** The validated, frozen shape of an application: what the rest of Verge reads. */
import type { KvStoreDecl } from '../capabilities/kv/schema.js';
import type { VariableDecl } from '../capabilities/variables/schema.js';
import type { OutboundPolicy } from '../capabilities/outbound-http/policy.js';
import type { RedisConnectionDecl, RedisTriggerDecl } from '../capabilities/redis/schema.js';
import type { RoutePattern } from '../ingress/router.js';
import type { HostPattern } from './hosts.js';

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
  variables: readonly string[];
  /** `[redis.NAME]` connections it may open by name. */
  redis: readonly string[];
  /**
   * Components only: how many requests one instance serves before it is dropped (1 = a fresh
   * instance per request, the default). Never concurrently; see docs/components.md.
   */
  instanceReuse: number;
}

/** The largest `instance_reuse` the manifest accepts. */
export const MAX_INSTANCE_REUSE = 10_000;

export interface RouteConfig {
  path: string;
  /** The path, parsed once at load. */
  pattern: RoutePattern;
  component: string;
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
  /** `[redis.NAME]`: Redis servers the operator configured, opened by name. */
  redis: ReadonlyMap<string, RedisConnectionDecl>;
  /** `[[trigger.redis]]`: components run for each message on a channel. */
  redisTriggers: readonly RedisTriggerDecl[];
}
