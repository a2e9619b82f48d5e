/**
 * The capabilities' main-thread side for a node: app versions' state (built by each capability's
 * `prepare`), state shared by every version of an app (its stores), per-request state (outbound
 * budget, an AbortController), and the answer to every host call, routed by the call's version.
 */
import { VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import { dependencyLabel } from '../manifest/dependencies.js';
import type { Logger } from '../telemetry/logging.js';
import type { ComponentGrants, HostCall, HostReply } from '../dispatch/protocol.js';
import type { OnAppBreakerChange } from './kv/store-breakers.js';
import type { Capability, HostContext, PreparedCapability, RequestContext, StoreView } from './capability.js';
import { CAPABILITY_LIST } from './index.js';
import { withinBound } from '../dispatch/host-bridge.js';
import type { StatusName } from './abi.js';
import type { DirNode } from './files/tree.js';

/** Where stores live unless --data-dir says otherwise, relative to the app's folder. */
export const DEFAULT_DATA_DIR = '.verge/data';

export interface CapabilityHostOptions {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  envFile?: string | undefined;
  onBreaker?: OnAppBreakerChange | undefined;
  logger: Logger;
  /** The capabilities to serve: the map in index.ts unless a test brings its own. */
  capabilities?: readonly Capability[];
  /** Told of every host call answered here: the capability that answered, how it went (OK or the status) and how long it took. */
  onHostCall?: ((call: HostCall, capability: string, outcome: StatusName, seconds: number) => void) | undefined;
}

export interface CapabilityHost {
  /**
   * Validates and builds one app version's state (resolves variables — a missing one throws a
   * VergeError naming it; parses outbound policies once). Stores are per (app name, store name)
   * and shared by every version of that app.
   */
  prepare(versionId: string, app: AppConfig, opts?: { dataDir?: string | undefined; files?: ReadonlyMap<string, DirNode> | undefined }): PreparedApp;
  /** Answers a worker's host call; routes by call.version (a versionId given to prepare). */
  handle(call: HostCall): Promise<HostReply>;
  /** The inbound request ended: abort its outbound calls, forget its budget. */
  endRequest(requestId: string): void;
  close(): Promise<void>;
}

export interface PreparedApp {
  /** Plain, structured-cloneable grants for the worker: a component's, or (with its key) one of its dependencies'. */
  grantsFor(component: string, dependency?: string): ComponentGrants;
  /** The version is unloaded: drop its per-version state (not the shared stores). */
  release(): void;
  /** The version's stores, read-only, for the dashboard. */
  stores(): readonly StoreView[];
}

interface Version {
  app: AppConfig;
  parts: Array<{ capability: Capability; state: PreparedCapability }>;
}

/** A dependency seen as a component: its parent's config (limits, settings) with the dependency's own grants. */
function asDependency(c: ComponentConfig, key: string): ComponentConfig {
  const d = c.dependencies.find((x) => x.key === key);
  if (!d) throw new VergeError('INTERNAL', `component ${c.name} has no dependency ${key}`);
  return { ...c, name: dependencyLabel(c.name, d), ...d.grants, dependencies: [] };
}

export function createCapabilityHost(opts: CapabilityHostOptions): CapabilityHost {
  const capabilities = opts.capabilities ?? CAPABILITY_LIST;
  const versions = new Map<string, Version>();
  const shared = new Map<string, { value: unknown; close: (value: unknown) => Promise<void> }>();
  const requests = new Map<string, { abort: AbortController; locals: Map<string, unknown> }>();

  /** `root`: for a chained callee, the inbound request whose chain it belongs to (HostCallRequest.root). */
  const entry = (id: string, root = id): { abort: AbortController; locals: Map<string, unknown> } => {
    let r = requests.get(id);
    if (r) return r;
    // A chained request's locals are its inbound request's, and it ends when that one does. The
    // inbound request made the call that started the chain, so its entry exists while the chain
    // runs; when it is gone (it just ended) none is made again for it, to be left behind.
    const parent = root === id ? undefined : requests.get(root);
    r = { abort: new AbortController(), locals: parent?.locals ?? new Map() };
    if (parent) parent.abort.signal.addEventListener('abort', () => r!.abort.abort(), { once: true, signal: r.abort.signal });
    requests.set(id, r);
    return r;
  };

  const requestContext = (id: string, root?: string): RequestContext => {
    const { abort, locals } = entry(id, root);
    return {
      signal: abort.signal,
      local<T>(key: string, make: () => T): T {
        let v = locals.get(key) as T | undefined;
        if (v === undefined) locals.set(key, (v = make()));
        return v;
      },
    };
  };

  /** The capability answering the call's op, in the call's version. */
  const answering = (version: Version | undefined, call: HostCall) => version?.parts.find(({ state }) => state.hostCalls?.[call.op] !== undefined);

  const dispatch = async (version: Version | undefined, part: Version['parts'][number] | undefined, call: HostCall): Promise<HostReply> => {
    if (!version) return { ok: false, status: 'UNAVAILABLE', message: `app version ${call.version} is not loaded on this node` };
    if (!part) return { ok: false, status: 'UNAVAILABLE', message: `no capability answers ${call.op} host calls` };
    const handler = part.state.hostCalls![call.op] as (c: HostCall, r: RequestContext) => Promise<HostReply>;
    return handler(call, requestContext(call.requestId, call.root));
  };

  return {
    prepare(versionId, app, prepareOpts) {
      if (versions.has(versionId)) throw new VergeError('INTERNAL', `app version ${versionId} is prepared already`);
      const ctx: HostContext = {
        // An uploaded app's stores live under the node's data dir, whatever folder its version sits in.
        dataDir: prepareOpts?.dataDir ?? opts.dataDir,
        env: opts.env,
        envFile: opts.envFile,
        logger: opts.logger,
        onBreaker: opts.onBreaker,
        files: prepareOpts?.files,
        shared<T>(key: string, make: () => T, close: (value: T) => Promise<void>): T {
          const full = `${app.name}\0${key}`;
          let entry = shared.get(full);
          if (!entry) shared.set(full, (entry = { value: make(), close: close as (value: unknown) => Promise<void> }));
          return entry.value as T;
        },
      };
      const parts = capabilities.flatMap((capability) => (capability.prepare ? [{ capability, state: capability.prepare(app, ctx) }] : []));
      versions.set(versionId, { app, parts });
      return {
        grantsFor(component, dependency) {
          const c = app.components.get(component);
          if (!c) throw new VergeError('INTERNAL', `app ${app.name} has no component ${component}`);
          const grants: ComponentGrants = { kvStores: [], variables: [], outbound: false };
          const asked = dependency === undefined ? c : asDependency(c, dependency);
          for (const { state } of parts) Object.assign(grants, state.grants?.(asked, dependency === undefined ? undefined : c));
          return grants;
        },
        release() {
          if (!versions.delete(versionId)) return;
          for (const { state } of parts) state.release?.();
        },
        stores: () => parts.flatMap(({ state }) => state.stores ?? []),
      };
    },

    /** Anything but a capability's refusal is a bug in Verge: logged here, UNAVAILABLE for the guest. */
    async handle(call) {
      const started = performance.now();
      const version = versions.get(call.version);
      const part = answering(version, call);
      let reply: HostReply;
      try {
        reply = await withinBound(call, part?.capability.hostCallTimeoutMs, dispatch(version, part, call));
      } catch (err) {
        opts.logger.error({ request_id: call.requestId, app: version?.app.name, component: call.component, op: call.op, err }, 'host call failed');
        reply = { ok: false, status: 'UNAVAILABLE', message: `the host failed while serving ${call.op}: ${err instanceof Error ? err.message : String(err)}` };
      }
      if (part) opts.onHostCall?.(call, part.capability.name, reply.ok ? (reply.outcome ?? 'OK') : reply.status, (performance.now() - started) / 1e3);
      return reply;
    },

    endRequest(id) {
      const r = requests.get(id);
      if (!r) return;
      r.abort.abort();
      requests.delete(id);
    },

    async close() {
      const entries = [...shared.values()];
      shared.clear();
      versions.clear();
      await Promise.all(entries.map((e) => e.close(e.value)));
      await Promise.all(capabilities.map((c) => c.close?.()));
    },
  };
}
