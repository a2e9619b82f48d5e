/**
 * What capability bindings share inside a worker: the guest's memory, the host bridge, per-worker
 * capability state (store connections), and a stack of request frames. A frame holds one
 * request's id, app version, component, grants, per-request handles and log budget; `begin`
 * pushes one and `end` pops it, so a nested call (a component calling another) cannot overwrite
 * its caller's grants or budget. Work a frame started (an outbound response, a store handle) is
 * refused once the frame has ended: a reused instance carries nothing into its next request.
 */
import { HostCallError, Status, type StatusName } from '../capabilities/abi.js';
import { GuestMemory } from './guest-memory.js';
import type { HostBridge } from '../dispatch/host-bridge.js';
import { GUEST_LOG_LIMITS, type LogLevelName } from '../capabilities/logging/levels.js';
import type { ComponentGrants, FromWorker, HostCallBody, OutboundRequestSpec, OutboundResponseSpec, SpanRecord, TraceContext } from '../dispatch/protocol.js';
import { RequestSpans, type Attributes } from '../telemetry/trace/request-spans.js';
import { hostCallCode, type CapabilityName } from '../telemetry/host-call-codes.js';
import { RequestMeasures } from './measures.js';
import type { RequestBudget } from '../capabilities/outbound-http/limits.js';

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

export interface FrameInit {
  id: string;
  /** The app version serving the request (host calls are routed by it). */
  version: string;
  component: string;
  grants: ComponentGrants;
  /** Date.now() past which the request is answered 504 anyway: bounds host calls. */
  deadlineAt?: number | undefined;
  /** The largest response body the guest may write. */
  maxResponseBytes?: number | undefined;
  /** The request's trace context, when tracing is on. */
  trace?: TraceContext | undefined;
}

/** A request's log budget: every frame of the request (its dependencies' too) spends the same one. */
export interface LogBudget {
  records: number;
  truncated: boolean;
}

export class Frame {
  readonly id: string;
  readonly version: string;
  readonly component: string;
  readonly grants: ComponentGrants;
  readonly deadlineAt: number | undefined;
  readonly maxResponseBytes: number | undefined;
  readonly trace: TraceContext | undefined;
  /** The request's spans, when it is sampled. */
  readonly spans: RequestSpans | undefined;
  readonly budget: LogBudget;
  private ended = false;
  private readonly locals = new Map<string, unknown>();
  private readonly endings: Array<() => void> = [];

  /** `caller`: for a dependency's frame, the frame of the component that calls it (spans and log budget are the request's). */
  constructor(
    init: FrameInit,
    readonly caller?: Frame,
  ) {
    this.id = init.id;
    this.version = init.version;
    this.component = init.component;
    this.grants = init.grants;
    this.deadlineAt = init.deadlineAt;
    this.maxResponseBytes = init.maxResponseBytes;
    this.trace = init.trace;
    this.spans = caller ? caller.spans : init.trace?.sampled ? new RequestSpans(init.trace) : undefined;
    this.budget = caller ? caller.budget : { records: 0, truncated: false };
  }

  /** False once the request ended (a dependency's frame ends with its caller's). */
  get live(): boolean {
    return !this.ended && (this.caller?.live ?? true);
  }

  end(): void {
    this.ended = true;
    for (const fn of this.endings.splice(0)) fn();
  }

  /**
   * The component whose main-thread state answers this frame's host calls: a dependency's are
   * its parent's, as what it may use is a part of its parent's grants (the worker checks which).
   */
  get hostComponent(): string {
    return this.caller?.hostComponent ?? this.component;
  }

  /** This request's state for one capability (its handles), made on first use. */
  local<T>(key: string, make: () => T): T {
    let v = this.locals.get(key) as T | undefined;
    if (v === undefined) this.locals.set(key, (v = make()));
    return v;
  }

  /** Runs `fn` when the request ends (a host file it opened is closed), from its caller's frame, a dependency's or not. */
  atEnd(fn: () => void): void {
    if (this.caller) this.caller.atEnd(fn);
    else this.endings.push(fn);
  }
}

export class GuestScope {
  readonly memory: GuestMemory;
  /** What is measured of the request being run, sampled or not: sent with its answer (a chained callee has its own while it runs). */
  measures: RequestMeasures;
  /** Runs a chained call in this worker (sandbox/chained.ts); set by the worker. */
  chained: ((request: OutboundRequestSpec, target: string, budget: RequestBudget, traceparent: string | undefined) => OutboundResponseSpec) | undefined = undefined;
  private readonly frames: Frame[] = [];
  private readonly perWorker = new Map<string, unknown>();
  private readonly repairs: Array<() => void> = [];
  /** Set when a host call went over the bridge: the main thread, where it completed, observes it. */
  private bridged = false;

  constructor(
    memory: () => WebAssembly.Memory | undefined,
    private readonly bridge: HostBridge,
    readonly post: (msg: FromWorker) => void,
  ) {
    this.memory = new GuestMemory(memory);
    this.measures = new RequestMeasures(post);
  }

  begin(init: FrameInit): Frame {
    const frame = new Frame(init);
    this.frames.push(frame);
    return frame;
  }

  /** Ends the innermost request; its caller's frame is current again. */
  end(): void {
    this.frames.pop()?.end();
  }

  /**
   * A run was stopped from outside (a chained callee's deadline, sandbox/chained.ts), so none of
   * its catch or finally blocks ran: the frames above `depth` are ended, and each per-worker state
   * that registered with onInterrupted repairs what an operation cut short left open.
   */
  interrupted(depth: number): void {
    while (this.frames.length > depth) this.frames.pop()!.end();
    for (const fn of this.repairs) fn();
  }

  /** `fn` runs after a run is stopped from outside (see interrupted()). */
  onInterrupted(fn: () => void): void {
    this.repairs.push(fn);
  }

  /** The callee's response to a chained call (`target`: the component the host names, or `next`), run in this worker. */
  runChained(request: OutboundRequestSpec, target: string, budget: RequestBudget, traceparent: string | undefined): OutboundResponseSpec {
    if (!this.chained) throw new HostCallError('UNAVAILABLE', 'chained calls are not run in this worker');
    return this.chained(request, target, budget, traceparent);
  }

  /** The inbound request's frame: what every request of its chain shares (its outbound budget) lives there. */
  get inbound(): Frame {
    const f = this.frames[0];
    if (!f) throw new Error('no request is being served');
    return f;
  }

  /**
   * Runs `fn`, a call into a dependency of the current request's component, in the dependency's
   * own frame: its grants, and the request's id, deadline, spans and log budget. The frame is made
   * on the request's first call into that dependency and kept for its later calls (what the
   * dependency opened in one call it may use in the next); it ends with the request. The
   * dependency's instantiation runs this way too.
   */
  dependency<T>(d: { label: string; grants: ComponentGrants }, call: string, fn: () => T): T {
    // Between requests (an instance made ahead) there is no one to act for: capability calls are refused.
    if (this.frames.length === 0) return fn();
    const caller = this.frame;
    const frame = caller.local(`dependency ${d.label}`, () => {
      const { id, version, deadlineAt, maxResponseBytes, trace } = caller;
      return new Frame({ id, version, component: d.label, grants: d.grants, deadlineAt, maxResponseBytes, trace }, caller);
    });
    // A span of its own, but not a host call: the capability calls it makes are timed as theirs.
    const spans = caller.spans;
    const span = spans?.start(`call ${call}`, { 'verge.dependency': d.label }, 'internal');
    this.frames.push(frame);
    try {
      const result = fn();
      if (span) spans!.end(span);
      return result;
    } catch (err) {
      if (span) spans!.end(span, err instanceof HostCallError ? err.status : err instanceof Error ? err.name : 'error');
      throw err;
    } finally {
      this.frames.pop();
    }
  }

  /** The request being served; throws outside one (a guest running between requests is a bug). */
  get frame(): Frame {
    const f = this.frames[this.frames.length - 1];
    if (!f) throw new Error('no request is being served');
    return f;
  }

  get depth(): number {
    return this.frames.length;
  }

  /** This worker's state for one capability (store connections), made on first use and kept for the worker's life. */
  worker<T>(key: string, make: () => T): T {
    let v = this.perWorker.get(key) as T | undefined;
    if (v === undefined) this.perWorker.set(key, (v = make()));
    return v;
  }

  /** The grants of the request being served. */
  get grants(): ComponentGrants {
    return this.frame.grants;
  }

  /** A host call over the bridge on behalf of the current request, bounded by its deadline. */
  call<T>(body: HostCallBody): T {
    const { id, version, hostComponent, deadlineAt } = this.frame;
    this.bridged = true;
    // Calls name the inbound request too: a chained callee's per-request state on the main thread is that request's.
    return this.bridge.call<T>({ ...body, requestId: id, version, component: hostComponent, root: this.frames[0]!.id }, deadlineAt);
  }

  /**
   * Runs a host call of `capability`, timed for the request's measures (unless it went over the
   * bridge: the main thread times those) and, when the request is sampled, in a span under the
   * guest's execution span. `after` sees the result (and the span, when there is one) and may
   * name an outcome other than OK (a get that found nothing: NOT_FOUND); a HostCallError thrown
   * names its own.
   */
  traced<T>(
    capability: CapabilityName,
    name: string,
    attributes: () => Attributes,
    fn: (span: SpanRecord | undefined) => T,
    after?: (result: T, span: SpanRecord | undefined) => StatusName | void,
    kind: SpanRecord['kind'] = 'internal',
  ): T {
    const spans = this.frames[this.frames.length - 1]?.spans;
    const span = spans?.start(name, attributes(), kind);
    this.bridged = false;
    const started = performance.now();
    let result: T;
    try {
      result = fn(span);
    } catch (err) {
      const status = err instanceof HostCallError ? err.status : undefined;
      this.timed(capability, status, started);
      if (span) {
        if (status) span.attributes['verge.outcome'] = status;
        // NOT_FOUND and CONFLICT are answers, not failures (as for the log).
        const normal = status !== undefined && LOG_LEVEL_FOR[status] === 'debug';
        spans!.end(span, normal ? undefined : (status ?? (err instanceof Error ? err.name : 'error')));
      }
      throw err;
    }
    const outcome = after?.(result, span) ?? 'OK';
    this.timed(capability, outcome, started);
    if (span) {
      span.attributes['verge.outcome'] = outcome;
      spans!.end(span);
    }
    return result;
  }

  /** Runs a host call of `capability` that makes no span (a log call, opening a store), timed for the request's measures. */
  measured<T>(capability: CapabilityName, fn: () => T): T {
    this.bridged = false;
    const started = performance.now();
    try {
      const result = fn();
      this.timed(capability, 'OK', started);
      return result;
    } catch (err) {
      this.timed(capability, err instanceof HostCallError ? err.status : undefined, started);
      throw err;
    }
  }

  private timed(capability: CapabilityName, outcome: StatusName | undefined, started: number): void {
    if (this.bridged) return;
    this.measures.hostCall(hostCallCode(capability, outcome), (performance.now() - started) / 1e3);
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

  /** A guest log call or stderr line, within the current request's budget. */
  log(level: LogLevelName, line: string, stream: 'guest' | 'stdout' | 'stderr' | 'host' = 'guest'): void {
    const frame = this.frames[this.frames.length - 1];
    if (!frame || frame.budget.truncated) return;
    if (frame.budget.records >= GUEST_LOG_LIMITS.maxRecords) {
      frame.budget.truncated = true;
      this.post({ t: 'log', id: frame.id, stream: 'host', level: 'warn', line: `log truncated: more than ${GUEST_LOG_LIMITS.maxRecords} records in one request` });
      return;
    }
    frame.budget.records++;
    const text = line.length > GUEST_LOG_LIMITS.maxRecordBytes ? line.slice(0, GUEST_LOG_LIMITS.maxRecordBytes) + '…' : line;
    frame.spans?.log(level, stream, text);
    this.post({ t: 'log', id: frame.id, stream, level, line: text });
  }
}
