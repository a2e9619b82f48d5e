/**
 * Serving a request with a wasi:http component inside a worker: jco's glue (imported once per
 * worker) links the precompiled core modules into an instance; the request becomes an
 * incoming-request resource, `handle` runs to completion (host calls are synchronous), and the
 * response the guest set becomes a GuestResponse.
 *
 * Instances: by default each request gets a fresh one, and the next is made right after a
 * response is posted, off the request's latency. With `instance_reuse = N` one instance serves
 * up to N requests, one at a time; an instance that failed a request is never reused.
 *
 * "Fresh" is the post-instantiation state, not necessarily a new object: an instance that is done
 * (after its one request, or its N) is reset to the state it had right after instantiation when
 * the component allows it (instance-reset.ts: memory, globals and tables restored, the glue run
 * again), which costs a fraction of a new instance. One that failed a request, or grew its memory,
 * is dropped and a new one made, as before.
 *
 * Dependencies (docs/composition.md) are instantiated with their parent, first, and their exports
 * handed to the parent's glue as the imports they satisfy: jco lifts and lowers through JS values
 * on both sides. A dependency is fresh or reused exactly as its parent is, and each call into it
 * runs in its own frame (scope.dependency): its grants, not its parent's.
 */
import { VergeError } from '../../errors.js';
import { SANDBOX_MEMORY_IMPORT } from '../../wasm/binary.js';
import type { MemoryRecycler, MemoryShelf } from '../memory-recycler.js';
import type { ComponentGrants, ComponentModuleSpec, DependencyLink, DependencyModuleSpec, GuestRequest, GuestResponse } from '../../dispatch/protocol.js';
import { HOP_BY_HOP } from '../wagi/cgi.js';
import { ComponentExit } from './imports.js';
import { importModule } from '../../dynamic-import.js';
import type { RequestSpans } from '../../telemetry/trace/request-spans.js';
import type { RequestMeasures } from '../measures.js';
import type { SpanRecord } from '../../dispatch/protocol.js';
import { Fields, IncomingRequest, ResponseOutparam, flattenHeaders, methodOf, FORBIDDEN_HEADERS } from './wasi-http.js';
import { InstanceReset } from './instance-reset.js';

/**
 * jco's glue asks for JSPI with `try { xAsync = WebAssembly.promising(f) } catch { xAsync = f }`
 * three times per instantiation. Node 20 has no WebAssembly.promising, and V8 renders that
 * TypeError's message by re-parsing the calling function — here a ~1 MB generator — which cost
 * ~5 ms per call, 15 of a ComponentizeJS component's ~19 ms instantiation (a prepared error
 * thrown from our own function still cost ~0.1 ms per throw). Sync-mode glue never reads those
 * variables, so workers answer with the fallback's own value: `f` itself.
 */
function declineJspi(): void {
  const wasm = WebAssembly as unknown as { promising?: unknown };
  if (wasm.promising !== undefined) return;
  Object.defineProperty(WebAssembly, 'promising', {
    configurable: true,
    writable: true,
    value: function promising<F>(f: F): F {
      return f;
    },
  });
}

type InstantiateCore = (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance;
type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
  instantiateCore: InstantiateCore,
) => Record<string, unknown>;

interface Handler {
  handle(request: IncomingRequest, out: ResponseOutparam): void;
}

interface Instance {
  handler: Handler;
  served: number;
  /** The recycled memories its core modules took, to give back when it is dropped. */
  memories: Array<{ shelf: MemoryShelf; memory: WebAssembly.Memory }>;
  /** A dependency trapped or exited under it: never reused, even if the parent got a response out. */
  failed: boolean;
  /** How to put it back into its post-instantiation state, when the component can be reset. */
  reset: InstanceReset | undefined;
}

/** Runs a call into a dependency in the dependency's frame (GuestScope.dependency). */
export type DependencyCalls = <T>(d: { label: string; grants: ComponentGrants }, call: string, fn: () => T) => T;

interface LoadedDependency {
  spec: DependencyModuleSpec;
  instantiate: Instantiate;
}

const hasPayload = (err: unknown): err is { payload: unknown } => err instanceof Error && Object.prototype.hasOwnProperty.call(err, 'payload');

export class ComponentRunner {
  private next: Instance | undefined;
  /** Milliseconds it took to make `next`, when it was made ahead and has not served yet. */
  private nextMadeMs = -1;
  /** Memories of instances dropped by the last request, zeroed after its response is posted. */
  private retired: Array<Instance['memories']> = [];
  /** Per core module that takes its memory as an import. */
  private readonly shelves = new Map<WebAssembly.Module, MemoryShelf>();
  /** Instances are reset rather than made again: every core module can be, and a trial reset came back equal. */
  private resettable: boolean;
  /** An instance done with its requests, to reset after the response is posted. */
  private done: Instance | undefined;

  private constructor(
    readonly spec: ComponentModuleSpec,
    private readonly instantiateGlue: Instantiate,
    private readonly imports: Record<string, unknown>,
    recycler: MemoryRecycler,
    private readonly dependencies: LoadedDependency[],
    private readonly calls: DependencyCalls | undefined,
  ) {
    // Two per core module: the next instance is made while the last one's memory is still in use.
    for (const { coreMemories, coreModules } of [spec, ...dependencies.map((d) => d.spec)]) {
      for (const [name, limits] of Object.entries(coreMemories)) this.shelves.set(coreModules[name]!, recycler.shelf(limits, 2));
    }
    // A dependency's instances are linked into its parent's glue through closures made per
    // instantiation: resetting the pair is not done (yet), they are made again.
    this.resettable = dependencies.length === 0 && InstanceReset.possible(spec.coreModules, spec.coreMemories);
  }

  /** Imports the component's glue (ESM, from the transpile cache), and its dependencies'. */
  static async load(spec: ComponentModuleSpec, imports: Record<string, unknown>, recycler: MemoryRecycler, calls?: DependencyCalls): Promise<ComponentRunner> {
    declineJspi();
    const glue = await loadGlue(spec.glue, `component ${spec.component}`);
    const dependencies: LoadedDependency[] = [];
    for (const d of spec.dependencies ?? []) dependencies.push({ spec: d, instantiate: await loadGlue(d.glue, d.label) });
    if (dependencies.length > 0 && !calls) throw new VergeError('INTERNAL', `component ${spec.component} has dependencies, and its runner was given no way to call them`);
    return new ComponentRunner(spec, glue, imports, recycler, dependencies, calls);
  }

  private instantiate(): Instance {
    const memories: Instance['memories'] = [];
    const instance: Instance = { handler: undefined as unknown as Handler, served: 0, memories, failed: false, reset: undefined };
    const instantiateCore: InstantiateCore = (module, imports) => {
      const shelf = this.shelves.get(module);
      if (!shelf) return new WebAssembly.Instance(module, imports);
      const memory = shelf.take();
      memories.push({ shelf, memory });
      return new WebAssembly.Instance(module, { ...imports, [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory } });
    };
    let exports: Record<string, unknown>;
    try {
      // Dependencies first: their exports are the parent's imports.
      const linked: Record<string, unknown> = {};
      for (const d of this.dependencies) {
        // In its own frame too: whatever its start-up calls is the dependency's, not its parent's.
        const depExports = this.calls!(d.spec, `${d.spec.key} (instantiation)`, () => d.instantiate(coreModule(d.spec, d.spec.label), this.imports, instantiateCore));
        for (const link of d.spec.links) linked[link.parentImport] = this.link(d.spec, link, depExports[link.glueExport], instance);
      }
      const getCore = coreModule(this.spec, `component ${this.spec.component}`);
      if (this.resettable) {
        const recorded = InstanceReset.record(this.instantiateGlue, getCore, this.imports, instantiateCore, () => memories[0]?.memory);
        recorded.reset.snapshot();
        exports = recorded.exports;
        instance.reset = recorded.reset;
        if (!this.verified) {
          // The first instance of this runner tries a reset before it serves: it must come back equal.
          const again = recorded.reset.verify(getCore, this.imports);
          this.verified = true;
          if (again) exports = again;
          else this.resettable = false;
        }
      } else {
        exports = this.instantiateGlue(getCore, this.dependencies.length > 0 ? { ...this.imports, ...linked } : this.imports, instantiateCore);
      }
    } catch (e) {
      this.release(memories);
      throw e;
    }
    instance.handler = this.handlerOf(exports);
    return instance;
  }

  private verified = false;

  private handlerOf(exports: Record<string, unknown>): Handler {
    const handler = exports[this.spec.handlerExport] as Handler | undefined;
    if (!handler || typeof handler.handle !== 'function') {
      throw new VergeError('INTERNAL', `component ${this.spec.component}: the instance has no ${this.spec.handlerExport}.handle`);
    }
    return handler;
  }

  /** The instance done with its requests, in its post-instantiation state again; undefined when it cannot be (dropped then). */
  private resetDone(): Instance | undefined {
    const used = this.done;
    this.done = undefined;
    if (!used) return undefined;
    let exports: Record<string, unknown> | undefined;
    try {
      if (this.resettable && used.reset) exports = used.reset.reset(coreModule(this.spec, `component ${this.spec.component}`), this.imports);
    } catch {
      // The glue refused to run again over the kept cores: a new instance, as without reset.
    }
    if (!exports) {
      this.release(used.memories);
      return undefined;
    }
    return { handler: this.handlerOf(exports), served: 0, memories: used.memories, failed: false, reset: used.reset };
  }

  /**
   * The parent's import object for one interface a dependency satisfies: each function calls the
   * dependency's export in the dependency's frame. jco's glue gives an export's `result` error as
   * a thrown value and takes an import's as `{tag: 'err'}`, so results are passed on tagged; a
   * thrown Error is a trap (or an exit) and fails the request.
   */
  private link(d: DependencyModuleSpec, link: DependencyLink, exported: unknown, instance: Instance): Record<string, unknown> {
    const target = exported as Record<string, unknown> | undefined;
    const out: Record<string, unknown> = {};
    for (const name of link.functions) {
      const fn = target?.[name];
      if (typeof fn !== 'function') throw new VergeError('INTERNAL', `${d.label}: its instance has no function ${name} in ${link.glueExport}`);
      const call = `${link.parentImport}.${name}`;
      const tagged = link.resultFunctions.includes(name);
      out[name] = (...args: unknown[]) =>
        this.calls!(d, call, () => {
          try {
            const value: unknown = fn(...args);
            return tagged ? { tag: 'ok', val: value } : value;
          } catch (err) {
            if (tagged && !(err instanceof Error)) return { tag: 'err', val: err };
            if (tagged && hasPayload(err)) return { tag: 'err', val: err.payload };
            instance.failed = true;
            throw err;
          }
        });
    }
    return out;
  }

  private release(memories: Instance['memories']): void {
    for (const { shelf, memory } of memories) shelf.give(memory);
  }

  /**
   * Serves one request; throws on a trap, an exit without a response, or a bad response. With
   * `spans` (a sampled request), instantiation (unless an instance was ready) and the handler's
   * run are spans.
   */
  run(req: GuestRequest, spans?: RequestSpans, measures?: RequestMeasures): GuestResponse {
    // A ready instance was made after an earlier response (prepared) or has served before (reused).
    const how = this.next === undefined ? 'fresh' : this.next.served > 0 ? 'reused' : 'prepared';
    let step: SpanRecord | undefined;
    if (!this.next && spans) step = spans.start('instantiate', { 'verge.instance': how });
    let instance = this.next;
    if (!instance) {
      const started = performance.now();
      instance = this.instantiate();
      measures?.instantiated(performance.now() - started, false);
    } else if (how === 'prepared') {
      measures?.instantiated(this.nextMadeMs, true);
    }
    if (step) spans!.end(step);
    this.next = undefined;
    try {
      return this.serve(instance, req, how, spans);
    } finally {
      measures?.memory(memoryBytes(instance));
    }
  }

  /** The handler's run on the instance chosen for the request. */
  private serve(instance: Instance, req: GuestRequest, how: string, spans: RequestSpans | undefined): GuestResponse {
    instance.served++;
    const out = new ResponseOutparam();
    let response: GuestResponse;
    const step = spans?.startGuest({ 'verge.instance': how });
    try {
      try {
        instance.handler.handle(incomingRequest(req), out);
      } catch (e) {
        // A clean exit after the response was set is a finished request; anything else fails it.
        if (!(e instanceof ComponentExit && e.code === 0 && out.response)) {
          // A guest that traps because its body write was refused is over its response cap.
          const body = out.response?.tag === 'ok' ? out.response.val.outgoingBody : undefined;
          if (body?.buffer.overflow) throw tooLarge(this.spec.maxResponseBytes);
          throw e;
        }
      }
      response = responseOf(out, this.spec.maxResponseBytes);
    } catch (e) {
      this.retired.push(instance.memories);
      if (step) spans!.end(step, e instanceof Error ? e.name : 'error');
      throw e;
    }
    if (step) spans!.end(step);
    // Kept for the next request only after a success, and while it has requests left.
    if (instance.served < this.spec.instanceReuse && !instance.failed) this.next = instance;
    else if (!instance.failed && instance.reset) this.done = instance;
    else this.retired.push(instance.memories);
    return response;
  }

  /** True when an instance is ready for the next request (a reused one, or one made ahead). */
  hasNext(): boolean {
    return this.next !== undefined;
  }

  /** Its version was unloaded: the instance made ahead and every kept memory go. */
  unload(recycler: MemoryRecycler): void {
    this.next = undefined;
    this.done = undefined;
    this.retired.length = 0;
    for (const shelf of this.shelves.values()) recycler.forget(shelf);
  }

  /** After a response is posted: recycle what the request left behind, and have an instance ready for the next one. */
  prepareNext(): void {
    for (const memories of this.retired.splice(0)) this.release(memories);
    if (this.next) return;
    const started = performance.now();
    this.next = this.resetDone() ?? this.instantiate();
    this.nextMadeMs = performance.now() - started;
  }
}

/** The linear memory an instance's core modules hold now (those whose memory Verge supplies: every one that has memory). */
function memoryBytes(instance: Instance): number {
  if (instance.memories.length === 0) return -1;
  let bytes = 0;
  for (const { memory } of instance.memories) bytes += memory.buffer.byteLength;
  return bytes;
}

const coreModule = (spec: { coreModules: Record<string, WebAssembly.Module> }, who: string) => (name: string) => {
  const m = spec.coreModules[name];
  if (!m) throw new VergeError('INTERNAL', `${who}: the glue asked for core module ${name}, which the transpile did not produce`);
  return m;
};

async function loadGlue(url: string, who: string): Promise<Instantiate> {
  try {
    return (await importModule<{ instantiate: Instantiate }>(url)).instantiate;
  } catch (e) {
    // The transpile cache was removed or damaged under a running node.
    throw new VergeError('INTERNAL', `${who}: cannot load its transpiled glue ${url}: ${e instanceof Error ? e.message : String(e)}; restart to transpile it again`);
  }
}

const enc = new TextEncoder();

function incomingRequest(req: GuestRequest): IncomingRequest {
  const headers = new Fields();
  let host: string | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (name === 'host') host ??= value;
    if (FORBIDDEN_HEADERS.has(name)) continue;
    headers.list.push([name, enc.encode(value)]);
  }
  return new IncomingRequest({
    method: methodOf(req.method),
    pathWithQuery: req.url,
    scheme: { tag: req.scheme === 'https' ? 'HTTPS' : 'HTTP' },
    authority: host ?? `${req.serverName}:${req.serverPort}`,
    headers,
    body: req.body,
  });
}

function tooLarge(cap: number): VergeError {
  return new VergeError('RESPONSE_TOO_LARGE', `the component wrote a response body over the component's max_response_bytes (${cap} bytes)`);
}

function responseOf(out: ResponseOutparam, cap: number): GuestResponse {
  const set = out.response;
  if (!set) throw new VergeError('GUEST_BAD_RESPONSE', 'the component returned from handle without setting a response');
  if (set.tag === 'err') {
    throw new VergeError('GUEST_BAD_RESPONSE', `the component answered with the error ${JSON.stringify(set.val, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
  const response = set.val;
  const body = response.outgoingBody;
  if (body?.buffer.overflow) throw tooLarge(cap);
  return { status: response.status, headers: flattenHeaders(response.fields, HOP_BY_HOP), body: body ? body.buffer.bytes() : new Uint8Array(0) };
}
