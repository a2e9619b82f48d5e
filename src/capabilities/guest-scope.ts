/**
 * What the verge:v1 bindings share inside a worker: the guest's memory, the request being served
 * and its component's grants, per-request handles, the log budget, the host bridge and this
 * worker's store connections. One scope per worker; `begin`/`end` bracket each request.
 */
import { HostCallError, Status, type StatusName } from './abi.js';
import { GuestMemory } from '../guest/guest-memory.js';
import type { HostBridge } from './host-bridge.js';
import { applyKvOp } from './kv/ops.js';
import { REMOTE, type WorkerStores } from './kv/worker-stores.js';
import { GUEST_LOG_LIMITS, type LogLevelName } from './logging/levels.js';
import { KV_LIMITS } from './kv/limits.js';
import type { ComponentGrants, FromWorker, KvOp, OutboundRequestSpec, OutboundResponseSpec } from '../dispatch/protocol.js';
import { StoreError } from '../backends/store.js';

/** How loud a refused host call is: denials and failing backends matter to operators; NOT_FOUND and CONFLICT are normal flow. */
const LOG_LEVEL_FOR: Record<StatusName, LogLevelName> = {
  OK: 'debug',
  NOT_FOUND: 'debug',
  CONFLICT: 'debug',
  NOT_A_NUMBER: 'info',
  INVALID_ARGUMENT: 'info',
  LIMIT_EXCEEDED: 'warn',
  ACCESS_DENIED: 'warn',
  UNAVAILABLE: 'warn',
  TIMEOUT: 'warn',
  NETWORK: 'warn',
};

interface Current {
  id: string;
  component: string;
  grants: ComponentGrants;
}

export class GuestScope {
  readonly memory: GuestMemory;
  private current: Current | undefined;
  private storeHandles: string[] = [];
  private responses = new Map<number, OutboundResponseSpec>();
  private nextResponse = 0;
  private logRecords = 0;
  private logTruncated = false;

  constructor(
    memory: () => WebAssembly.Memory | undefined,
    private readonly bridge: HostBridge,
    private readonly stores: WorkerStores,
    private readonly post: (msg: FromWorker) => void,
  ) {
    this.memory = new GuestMemory(memory);
  }

  begin(id: string, component: string, grants: ComponentGrants): void {
    this.current = { id, component, grants };
    this.storeHandles = [];
    this.responses.clear();
    this.nextResponse = 0;
    this.logRecords = 0;
    this.logTruncated = false;
  }

  end(): void {
    this.current = undefined;
    this.responses.clear();
  }

  private get request(): Current {
    if (!this.current) throw new Error('no request is being served');
    return this.current;
  }

  /**
   * Runs a binding: a HostCallError becomes its status code for the guest (and a log record);
   * a guest memory fault or anything unexpected propagates and fails the request.
   */
  guard(api: string, fn: () => number): number {
    try {
      return fn();
    } catch (err) {
      if (err instanceof HostCallError) {
        this.report(api, err);
        return Status[err.status];
      }
      throw err;
    }
  }

  /** Logs a refusal the guest is about to receive. Normal-flow answers are not logged: they would spend the guest's log budget. */
  report(api: string, err: HostCallError): void {
    const level = LOG_LEVEL_FOR[err.status];
    if (level !== 'debug') this.log(level, `${api}: ${err.message}`, 'host');
  }

  /** The grants of the request being served. */
  get grants(): ComponentGrants {
    return this.request.grants;
  }

  /** A guest log call or stderr line, within the per-request budget. */
  log(level: LogLevelName, line: string, stream: 'guest' | 'stdout' | 'stderr' | 'host' = 'guest'): void {
    if (!this.current) return;
    if (this.logTruncated) return;
    if (this.logRecords >= GUEST_LOG_LIMITS.maxRecords) {
      this.logTruncated = true;
      this.post({ t: 'log', id: this.current.id, stream: 'host', level: 'warn', line: `log truncated: more than ${GUEST_LOG_LIMITS.maxRecords} records in one request` });
      return;
    }
    this.logRecords++;
    const text = line.length > GUEST_LOG_LIMITS.maxRecordBytes ? line.slice(0, GUEST_LOG_LIMITS.maxRecordBytes) + '…' : line;
    this.post({ t: 'log', id: this.current.id, stream, level, line: text });
  }

  // ---- key-value

  openStore(name: string): number {
    this.checkStore(name);
    if (this.storeHandles.length >= KV_LIMITS.maxStoreHandles) {
      throw new HostCallError('LIMIT_EXCEEDED', `at most ${KV_LIMITS.maxStoreHandles} kv_open handles per request: open each store once and keep its handle`);
    }
    this.storeHandles.push(name);
    return this.storeHandles.length - 1;
  }

  /** Throws ACCESS_DENIED, naming the store and the grants, unless the current request's component may use it. */
  checkStore(name: string): ComponentGrants['kvStores'][number] {
    const { grants, component } = this.request;
    const grant = grants.kvStores.find((s) => s.name === name);
    if (!grant) {
      const granted = grants.kvStores.map((s) => s.name);
      throw new HostCallError(
        'ACCESS_DENIED',
        `store ${JSON.stringify(name)} is not granted to component ${component} (key_value_stores = ${JSON.stringify(granted)})`,
      );
    }
    return grant;
  }

  kv(handle: number, op: KvOp): unknown {
    const name = this.storeHandles[handle];
    if (name === undefined) throw new HostCallError('INVALID_ARGUMENT', `no open store has handle ${handle}; call kv_open first`);
    return this.kvStore(name, op);
  }

  /**
   * An operation on a store by name, checked against the current request's grants: a component
   * instance that serves several requests may keep a wasi:keyvalue bucket from an earlier one.
   */
  kvStore(name: string, op: KvOp): unknown {
    const grant = this.checkStore(name);
    const { id, component } = this.request;
    let result: unknown;
    try {
      result = this.stores.run(grant, op, (store) => applyKvOp(store, op));
    } catch (err) {
      if (err instanceof StoreError) throw new HostCallError(err.reason, `store ${name}: ${err.message}`);
      throw err;
    }
    return result === REMOTE ? this.bridge.call({ op: 'kv', requestId: id, component, store: name, kv: op }) : result;
  }

  // ---- variables

  variable(name: string): string | undefined {
    const { grants, component } = this.request;
    const v = grants.variables.find((g) => g.name === name);
    if (!v) throw new HostCallError('ACCESS_DENIED', `variable ${JSON.stringify(name)} is not granted to component ${component}`);
    return v.value;
  }

  // ---- outbound HTTP

  send(request: OutboundRequestSpec): number {
    const { grants, component, id } = this.request;
    if (!grants.outbound) {
      throw new HostCallError('ACCESS_DENIED', `component ${component} has no allowed_outbound_hosts, so ${describeTarget(request.url)} is refused`);
    }
    const response = this.bridge.call<OutboundResponseSpec>({ op: 'http', requestId: id, component, request });
    const handle = this.nextResponse++;
    this.responses.set(handle, response);
    return handle;
  }

  response(handle: number): OutboundResponseSpec {
    const r = this.responses.get(handle);
    if (!r) throw new HostCallError('INVALID_ARGUMENT', `no response has handle ${handle} (closed, or never returned by http_send)`);
    return r;
  }

  closeResponse(handle: number): void {
    if (!this.responses.delete(handle)) throw new HostCallError('INVALID_ARGUMENT', `no response has handle ${handle} (closed, or never returned by http_send)`);
  }
}

function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the request';
  }
}
