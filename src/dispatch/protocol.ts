/**
 * Every message that crosses between the main thread and a worker. Requests and their answers
 * are matched by `id` (the request id); a message for an id the receiver does not expect is
 * dropped, which is what happens to the late answer of a worker that was already replaced.
 */
import type { MessagePort } from 'node:worker_threads';
import type { ErrorCode } from '../errors.js';
import type { StatusName } from '../capabilities/abi.js';
import type { BackendName } from '../backends/registry.js';
import type { LogLevelName } from '../capabilities/logging/levels.js';
import type { DirNode } from '../capabilities/files/tree.js';
import type { PgCall } from '../capabilities/postgres/types.js';

/** A WAGI command module (WASI preview1). */
export interface WagiModuleSpec {
  kind: 'wagi';
  component: string;
  module: WebAssembly.Module;
  /** Present when the module has linear memory (supplied by the worker, per instance). */
  memory: { initialPages: number; maximumPages: number } | undefined;
  maxResponseBytes: number;
  grants: ComponentGrants;
  /** Set when the module set is loaded into workers. */
  callee?: CalleeSpec | undefined;
}

/** A wasi:http component, transpiled by jco: its glue module and its compiled (memory-capped) core modules. */
export interface ComponentModuleSpec {
  kind: 'component';
  component: string;
  /** file: URL of the glue's component.js in the transpile cache. */
  glue: string;
  coreModules: Record<string, WebAssembly.Module>;
  /**
   * Core modules whose memory was rewritten into the `verge:sandbox.memory` import (capped), so a
   * worker can hand each new instance a zeroed, recycled memory: by module name.
   */
  coreMemories: Record<string, { initialPages: number; maximumPages: number }>;
  /** The export holding `handle`, e.g. "wasi:http/incoming-handler@0.2.10". */
  handlerExport: string;
  /** Requests one instance serves (1: a fresh instance per request). */
  instanceReuse: number;
  maxResponseBytes: number;
  grants: ComponentGrants;
  /** Set when the module set is loaded into workers. */
  callee?: CalleeSpec | undefined;
  /** Components linked into each instance to satisfy some of its imports (docs/composition.md). */
  dependencies?: DependencyModuleSpec[];
}

/**
 * A dependency: a component instantiated with its parent (fresh with it, or reused with it), its
 * exports passed to the parent as imports, each call running with the dependency's own grants.
 */
export interface DependencyModuleSpec {
  /** The manifest key (`acme:auth/verify`): its grants are looked up by the parent's name and this. */
  key: string;
  /** For messages: "auth (acme:auth/verify, a dependency of api)". */
  label: string;
  /** file: URL of its glue's component.js in the transpile cache. */
  glue: string;
  coreModules: Record<string, WebAssembly.Module>;
  coreMemories: Record<string, { initialPages: number; maximumPages: number }>;
  /** The parent's imports it satisfies. */
  links: DependencyLink[];
  grants: ComponentGrants;
}

export interface DependencyLink {
  /** The key the parent's glue asks its import under ("acme:auth/verify"). */
  parentImport: string;
  /** The key of the export in the dependency's glue ("acme:auth/verify@0.1.0"). */
  glueExport: string;
  /** The interface's functions as the glue names them (camelCase). */
  functions: string[];
  /** Those of them that return a `result`: their error comes back thrown from the export and goes to the import as `{tag: 'err'}`. */
  resultFunctions: string[];
}

export type ModuleSpec = WagiModuleSpec | ComponentModuleSpec;

/** What a worker needs to run a component as the callee of a chained call (sandbox/chained.ts). */
export interface CalleeSpec {
  /** Its routes' patterns, private ones included: a chained request is routed among them. */
  routes: string[];
  timeoutMs: number;
  maxRequestBytes: number;
}

/** What a component may use, resolved for the worker (default-deny: absent means refused). */
export interface ComponentGrants {
  /** A backend that runs in the worker (backends/registry.ts) is opened there at `address`; the others are reached over the host bridge. */
  kvStores: Array<{ name: string; backend: BackendName; address: string | undefined }>;
  variables: Array<{ name: string; value: string | undefined; secret: boolean }>;
  /**
   * False without allowed outbound hosts (nor a middleware's `next`); otherwise the largest request
   * body the guest may send, its cap on a response body, and the components it may call (the
   * worker checks chained calls; the main thread checks each network URL).
   */
  outbound:
    | false
    | {
        maxRequestBodyBytes: number;
        /** The caller's cap on an outbound response body (a chained callee's is held to it too). */
        maxResponseBytes: number;
        /** Components of its app it may call (http://NAME.verge.internal): their names, or `*` for every one. */
        chains: '*' | string[];
      };
  /** The component's mounted files (`files`), read-only, preopened at `/`; absent: no file system. */
  files?: DirNode | undefined;
  /** `databases`: the [databases.NAME] it may open by name (absent: none). */
  postgres?: { databases: string[] };
  /**
   * Redis: the `[redis.NAME]` connections granted by name (`redis = [...]`), and whether the
   * component may open addresses (it has allowed_outbound_hosts, checked on the main thread).
   * Absent: nothing.
   */
  redis?: { names: string[]; byAddress: boolean };
  /** `environment`: the guest's process environment (absent: empty). */
  environment?: Array<[string, string]>;
}

/**
 * A request's W3C trace context, present when tracing is on (telemetry/tracing.ts). Ids are
 * lower-case hex: a trace id of 32 digits, span ids of 16.
 */
export interface TraceContext {
  traceId: string;
  /** The server span, made on the main thread: queue wait and instantiation hang under it. */
  serverSpanId: string;
  /**
   * The guest's execution span, where host calls hang; the parent a guest and its outbound calls
   * see. When the request is not sampled, the inbound parent (or a fresh id) that is passed on.
   */
  spanId: string;
  /** Recorded and exported: the worker makes spans only then. */
  sampled: boolean;
  /** The inbound `tracestate`, passed on unchanged. */
  tracestate: string | undefined;
  /** Epoch milliseconds when the ingress handed the request to the pool: its queue wait starts there. */
  admittedAt: number;
}

/** One finished span made in a worker, sent back with the request's answer. Times are epoch milliseconds. */
export interface SpanRecord {
  id: string;
  parent: string;
  name: string;
  kind: 'internal' | 'client';
  start: number;
  end: number;
  attributes: Record<string, string | number | boolean>;
  /** Set when the span failed: the reason, never a value the guest handled. */
  error?: string;
  events?: Array<{ name: string; time: number; attributes: Record<string, string | number | boolean> }>;
}

/** A request's spans as one JSON string (telemetry/trace/encoded-spans.ts): cheap to pass between threads. */
export interface EncodedSpans {
  json: string;
  count: number;
}

/** What a guest needs to know about its request; the worker turns it into a CGI environment. */
export interface GuestRequest {
  id: string;
  /** The app version the request was bound to when it was admitted (a key the pool loaded). */
  version: string;
  component: string;
  method: string;
  /** The request target as received: path and query. */
  url: string;
  /** How the client reached the node: over TLS or not. */
  scheme: 'http' | 'https';
  httpVersion: string;
  /** node's rawHeaders: name, value, name, value, ... */
  rawHeaders: string[];
  remoteAddr: string;
  serverName: string;
  serverPort: string;
  route: string;
  scriptName: string;
  pathInfo: string;
  params: Array<[string, string]>;
  body: Uint8Array;
  /** Absent when tracing is off. */
  trace?: TraceContext | undefined;
  /** A middleware's request: the components after it on its route (the last is the route's own), which `http://next.verge.internal` reaches. */
  next?: string[] | undefined;
}

export type ToWorker =
  /** First message to every worker. claims: the worker's cells of dispatch/job-claims.ts. */
  | { t: 'init'; bridge: { port: MessagePort; signal: SharedArrayBuffer }; claims: SharedArrayBuffer }
  /** A module set for one app version; answered by 'loaded' or 'load-failed'. Runs for it follow only after. */
  | { t: 'load'; version: string; modules: ModuleSpec[] }
  /** The version's last request ended: drop its modules, instances and recycled memories. */
  | { t: 'unload'; version: string }
  /**
   * Requests in the order the worker runs them: every one the pool posted to it since its last
   * message, so one message (and one wake-up of the worker's thread) carries several.
   */
  | { t: 'run'; runs: RunOrder[] };

/** One request for a worker: it runs it only if it wins the claim (cell, tag); otherwise the pool took it back and it answers nothing. */
export interface RunOrder {
  request: GuestRequest;
  cell: number;
  tag: number;
  /** The request's deadline, counted from when the worker starts it. */
  timeoutMs: number;
}

export interface GuestResponse {
  status: number;
  /** name, value, name, value, ... as the guest wrote them (hop-by-hop headers removed). */
  headers: string[];
  body: Uint8Array;
}

/**
 * What a worker measures of every request it runs, sampled for tracing or not, observed as
 * metrics on the main thread. Fields of the answer itself: no message, and no object of their own
 * to clone.
 */
export interface RunMeasures {
  /** Epoch milliseconds (performance.timeOrigin + now) when the worker claimed the request: its queue wait ends there. */
  claimedAt: number;
  /** Milliseconds spent making the instance that served it; -1 when none was made for it (a reused instance, or none at all). */
  instantiateMs: number;
  /** That instance was made ahead, after the previous response (a WAGI instance put back, a component's prepared instance), not on this request's path. */
  prepared: boolean;
  /** Bytes of linear memory the guest's instance had when the request ended (its core modules' together); -1 without any. */
  memoryBytes: number;
  /**
   * Host calls completed in the worker: code, seconds, code, seconds, ... (codes from
   * telemetry/host-call-codes.ts). Absent when there were none. Calls answered over the host
   * bridge are observed on the main thread instead.
   */
  hostCalls?: Float64Array;
}

/** An answer carries its run's measures; the one for a request that never ran (its version not loaded there) does not. */
type Measured = RunMeasures | { claimedAt?: undefined };

export type FromWorker =
  /** tid: the worker thread's kernel id, where the OS shows it (dispatch/thread-priority.ts). */
  | { t: 'ready'; tid: number | undefined }
  | { t: 'loaded'; version: string }
  | { t: 'load-failed'; version: string; message: string }
  /** settling: the worker has work left from this request (a component's next instance) and says 'settled' when done. */
  | ({ t: 'done'; id: string; response: GuestResponse; settling?: true; spans?: EncodedSpans } & Measured)
  /** panic, backtrace: what a trapping or failing guest said and where it was (sandbox/guest-failure.ts). */
  | ({ t: 'fail'; id: string; code: ErrorCode; message: string; settling?: true; spans?: EncodedSpans; panic?: string; backtrace?: string[] } & Measured)
  /** A request made more host calls than one answer carries: a full batch of their timings (as RunMeasures.hostCalls), sent ahead of the answer. */
  | { t: 'host-calls'; id: string; calls: Float64Array }
  | { t: 'settled' }
  | { t: 'log'; id: string; stream: 'stdout' | 'stderr' | 'guest' | 'host'; level: LogLevelName; line: string }
  /**
   * A chained call the worker starts running, nested in the request it serves
   * (sandbox/chained.ts): its answer follows as 'done' or 'fail' under its id, before its
   * caller's. `request` is the callee's, body left out; `chain`: component names from the inbound
   * request's down to the callee's; `traceparent`: the caller's client span, when traced.
   */
  | { t: 'chain'; request: GuestRequest; parent: string; root: string; chain: string[]; traceparent: string | undefined; startedAt: number }
  /** version: the key of the version whose request saw the change (its app owns the store). */
  | { t: 'breaker'; version: string; store: string; side: 'read' | 'write'; state: 'closed' | 'open' | 'half-open'; reason: string | undefined };

/** One store operation; the same shape runs against a synchronous store in the worker or an async one on the main thread. */
export type KvOp =
  | { method: 'get'; key: string }
  | { method: 'set'; key: string; value: Uint8Array }
  | { method: 'delete'; key: string }
  | { method: 'exists'; key: string }
  | { method: 'listKeys'; prefix: string; after: string | undefined; limit: number }
  | { method: 'increment'; key: string; delta: bigint }
  | { method: 'compareAndSwap'; key: string; expected: Uint8Array | null; value: Uint8Array };

/** One value of a Redis reply, flattened as Spin's redis-result is (nested arrays are spread in order). */
export type RedisItem = { tag: 'nil' } | { tag: 'status'; val: string } | { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };

/** A guest's Redis call; the worker checked the grant, the command against the allow-list and the sizes. */
export type RedisOp =
  /** A granted connection's name, or a redis:// address for allowed_outbound_hosts: answers a connection id, valid for this request. */
  | { action: 'open'; target: string }
  /** `command[0]` is the command's name in upper case; answers RedisItem[]. */
  | { action: 'execute'; conn: number; command: Uint8Array[] };

export interface OutboundRequestSpec {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
}

export interface OutboundResponseSpec {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** Redirects followed to get it. */
  redirects?: number;
}

/** What a capability asks the main thread for; the scope adds who is asking. */
export type HostCallBody =
  | { op: 'kv'; store: string; kv: KvOp }
  /** traceparent: the call's client span (absent when tracing is off); the main thread sends it on unless trace_propagation is off. */
  | { op: 'http'; request: OutboundRequestSpec; traceparent?: string | undefined }
  | { op: 'pg'; pg: PgCall }
  | { op: 'redis'; redis: RedisOp };

/**
 * Who is asking: the request, its app version (the state that answers) and its component; `root`:
 * the inbound request whose chain it belongs to (itself, unless it is a chained callee), whose
 * per-request state, such as the outbound budget, every request of the chain shares.
 */
export type HostCallRequest = HostCallBody & { requestId: string; version: string; component: string; root?: string | undefined };

/**
 * Worker → main, over the host bridge (dispatch/host-bridge.ts). `callId` is echoed on the
 * reply, so a late reply to a call the worker gave up on is dropped; `deadlineAt` (the request's)
 * bounds how long the main thread works on it.
 */
export type HostCall = HostCallRequest & { callId: number; deadlineAt: number | undefined };

/**
 * outcome: how an answered call went when that is not plainly OK (a get that found nothing:
 * NOT_FOUND), for the main thread's metrics; the worker ignores it.
 */
export type HostReply = { ok: true; value: unknown; outcome?: StatusName } | { ok: false; status: StatusName; message: string };

/** Main → worker: a reply and the call it answers. */
export interface HostAnswer {
  callId: number;
  reply: HostReply;
}
