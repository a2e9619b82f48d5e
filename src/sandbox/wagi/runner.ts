/**
 * Serving a request with a WAGI module inside a worker: a fresh instance per request, the request
 * as a CGI environment, argv and stdin, the response parsed from stdout. The instance's memory
 * comes from the worker's recycler and goes back to it after the answer is posted.
 *
 * "Fresh" is the state, not the object: a module whose state the loader exported
 * (wasm/state-exports.ts, exposeStateForReset) goes back to the shelf with the instance that used
 * it, and once the memory is zeroed the instance is put back as instantiation left it — the pages
 * its data segments filled, every mutable global, every table something could change. The next
 * request runs in it, as it would in a new instance, without `new WebAssembly.Instance` and the
 * garbage each one leaves (for a small module, most of a request's cost in the worker). A run
 * that failed, or stopped from outside, gives its instance up.
 */
import type { EncodedSpans, GuestRequest, GuestResponse, WagiModuleSpec } from '../../dispatch/protocol.js';
import { VERGE_ABI_MODULE } from '../../capabilities/abi.js';
import { SANDBOX_MEMORY_IMPORT } from '../../wasm/binary.js';
import { classify, postFailure, postResponse, type Failure, type Post } from '../answer.js';
import type { Attachment, MemoryRecycler, MemoryShelf } from '../memory-recycler.js';
import { stateExportsOf, type StateExports } from '../../wasm/state-exports.js';
import { CoreState, filledPages, type FilledPages } from '../core-state.js';
import { CappedBuffer, type LineSink } from '../output.js';
import type { GuestScope } from '../scope.js';
import type { createVergeImports } from '../../capabilities/guest-imports.js';
import { explainFailure, type LastWords } from '../guest-failure.js';
import { parseCgiResponse, writeCgiEnvironment, writeWagiArgv } from './cgi.js';
import { FdTable } from '../../capabilities/files/bindings/wasi-p1.js';
import { CStringListBuilder, ProcExit, WASI_MODULE, cStringList, createWasiImports, type WasiRequest } from './wasi-p1.js';

/** Room for the CGI header block on top of the body cap. */
const HEADER_ALLOWANCE = 64 * 1024;

export interface WagiModule extends WagiModuleSpec {
  memories: MemoryShelf<KeptInstance> | undefined;
  /** The state the loader exported: set when a used instance may be put back. */
  state: StateExports | undefined;
  /** What instantiation writes to memory (its data segments), by page: read at the module's first instance in this worker. */
  filled: FilledPages | undefined;
}

/** A used instance and how to put it back: kept on the memory shelf with the memory it ran in. */
export class KeptInstance implements Attachment {
  /** How long the last putting back took (the memory's zeroing included): the next request's instantiation, made ahead of it. */
  madeMs = 0;

  constructor(
    /** The runner whose imports the instance was made with: only it can run the instance again. */
    readonly owner: object,
    readonly instance: WebAssembly.Instance,
    private readonly memory: WebAssembly.Memory,
    private readonly filled: FilledPages,
    /** Its globals and tables, read right after instantiation (a funcref is this instance's own). */
    private readonly state: CoreState,
  ) {}

  /** The memory was zeroed: writes back what instantiation wrote, and the globals and tables; false when a table grew. */
  restore(): boolean {
    if (!this.state.fits()) return false;
    const bytes = new Uint8Array(this.memory.buffer);
    for (const run of this.filled) bytes.set(run.bytes, run.from);
    this.state.restore();
    return true;
  }
}

/** The kept form of an instance just made: undefined when the module's state was not exported. */
function keepable(owner: object, m: WagiModule, instance: WebAssembly.Instance, memory: WebAssembly.Memory): KeptInstance | undefined {
  if (!m.state) return undefined;
  m.filled ??= filledPages(new Uint8Array(memory.buffer));
  const state = new CoreState(instance, m.state);
  state.take();
  return new KeptInstance(owner, instance, memory, m.filled, state);
}

export interface WagiContext {
  scope: GuestScope;
  post: Post;
  stderr: LineSink;
  /** Watches the stderr lines for a panic or abort message (reset with stderr). */
  lastWords: LastWords;
  vergeImports: ReturnType<typeof createVergeImports>;
}

export function loadWagiModule(spec: WagiModuleSpec, recycler: MemoryRecycler): WagiModule {
  return { ...spec, memories: spec.memory && recycler.shelf<KeptInstance>(spec.memory, 1), state: spec.memory && stateExportsOf(spec.module), filled: undefined };
}

/** One per worker: the buffers and WASI imports are reused by every request it runs. */
export function createWagiRunner(ctx: WagiContext) {
  const stdout = new CappedBuffer();
  const emptyOut = { write() {} };
  let state: WasiRequest = {
    memory: undefined,
    args: cStringList([]),
    env: cStringList([]),
    stdin: new Uint8Array(0),
    stdinOffset: 0,
    stdout: emptyOut,
    stderr: emptyOut,
    startedNs: 0n,
  };
  const wasi = createWasiImports(() => state);
  const env = new CStringListBuilder();
  const setEnv = (name: string, value: string) => void env.addPair(name, value);
  const argv = new CStringListBuilder();
  const addArg = (arg: string) => void argv.add(arg);

  const runner = {
    /** The memory of the instance running now (the verge:v1 bindings read and write it). */
    memory: (): WebAssembly.Memory | undefined => state.memory,

    /** Serves `req` and posts its answer to the pool; the memory goes back to its shelf after that, off the request's latency. */
    run(m: WagiModule, req: GuestRequest, deadlineAt: number | undefined): void {
      const { answer, spans, memory, kept } = runner.execute(m, req, deadlineAt);
      if ('response' in answer) postResponse(ctx.post, req.id, answer.response, false, spans, ctx.scope.measures);
      else postFailure(ctx.post, req.id, answer.failure, undefined, spans, ctx.scope.measures);
      runner.recycle(m, memory, kept);
    },

    /**
     * Runs `req` in a fresh instance: its response (the body copied out of the reusable buffer) or
     * why it has none, and its spans when sampled. The memory it ran in, and the instance when it
     * may be put back, are the caller's to recycle.
     */
    execute(
      m: WagiModule,
      req: GuestRequest,
      deadlineAt: number | undefined,
    ): { answer: { response: GuestResponse } | { failure: Failure }; spans: EncodedSpans | undefined; memory: WebAssembly.Memory | undefined; kept: KeptInstance | undefined } {
      const { scope, stderr } = ctx;
      const { spans } = scope.begin({ id: req.id, version: req.version, component: m.component, grants: m.grants, deadlineAt, maxResponseBytes: m.maxResponseBytes, trace: req.trace });
      spans?.queued();
      stdout.reset(m.maxResponseBytes + HEADER_ALLOWANCE);
      stderr.reset();
      ctx.lastWords.reset();
      const taken = m.memories?.takeAttached();
      const memory = taken?.memory;
      // An instance calls the WASI and verge:v1 imports of the runner that made it: a call of the same
      // module at another depth of a chain (its own runner) instantiates again, on this memory, which
      // holds what instantiation writes and zeros elsewhere.
      let kept = taken?.attached?.owner === runner ? taken.attached : undefined;
      const how = kept ? 'prepared' : 'fresh';
      env.reset();
      // The component's own environment first: a CGI variable of the same name describes the request and wins.
      const own = m.grants.environment;
      if (own !== undefined && own.length > 0) {
        const cgi = new Set<string>();
        writeCgiEnvironment(req, (name) => void cgi.add(name));
        for (const [name, value] of own) if (!cgi.has(name)) setEnv(name, value);
      }
      writeCgiEnvironment(req, setEnv);
      argv.reset();
      writeWagiArgv(req, addArg);
      const files = m.grants.files && new FdTable([{ name: '/', root: m.grants.files }], (line) => scope.log('warn', line, 'host'));
      state = { memory, args: argv.list(), env: env.list(), stdin: req.body, stdinOffset: 0, stdout, stderr, startedNs: process.hrtime.bigint(), files };
      let failure: Failure | undefined;
      let thrown: unknown;
      // A put-back instance was made ahead of the request, as a component's prepared one: no span.
      let step = kept ? undefined : spans?.start('instantiate', { 'verge.instance': how });
      try {
        let instance: WebAssembly.Instance;
        if (kept) {
          instance = kept.instance;
          scope.measures.instantiated(kept.madeMs, true);
        } else {
          const started = performance.now();
          instance = new WebAssembly.Instance(m.module, {
            [WASI_MODULE]: wasi,
            [VERGE_ABI_MODULE]: ctx.vergeImports,
            [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory as WebAssembly.Memory },
          });
          scope.measures.instantiated(performance.now() - started, false);
          if (memory) kept = keepable(runner, m, instance, memory);
        }
        if (step) spans!.end(step);
        step = spans?.startGuest({ 'verge.instance': how });
        (instance.exports._start as () => void)();
      } catch (err) {
        if (!(err instanceof ProcExit && err.code === 0)) failure = classify(err);
        thrown = err;
      }
      stderr.flush();
      if (failure) explainFailure(failure, thrown, m.module, ctx.lastWords);
      files?.closeAll();
      if (step) spans!.end(step, failure?.code);
      scope.end();
      if (memory) scope.measures.memory(memory.buffer.byteLength);
      let answer: { response: GuestResponse } | { failure: Failure } | undefined;
      if (!failure) {
        try {
          const parsed = parseCgiResponse(stdout.view(), m.maxResponseBytes);
          // Copy the body out of the reusable buffer; a large one is transferred rather than cloned again.
          answer = { response: { ...parsed, body: parsed.body.slice() } };
        } catch (err) {
          failure = classify(err);
        }
      }
      state = { ...state, memory: undefined, stdin: new Uint8Array(0), files: undefined };
      // A run that failed gives its instance up: the next one starts from a new instance.
      return { answer: answer ?? { failure: failure! }, spans: spans?.encode(), memory, kept: failure ? undefined : kept };
    },

    /** Gives the memory a request ran in back to its module's shelf (zeroed there), with its instance to be put back when there is one. */
    recycle(m: WagiModule, memory: WebAssembly.Memory | undefined, kept?: KeptInstance): void {
      if (!memory) return;
      if (!kept) return m.memories!.give(memory);
      const started = performance.now();
      m.memories!.give(memory, kept);
      kept.madeMs = performance.now() - started;
    },

    /**
     * A run stopped from outside (its deadline, by the engine's termination, which no catch or
     * finally of the run saw): what it opened is closed and its memory dropped, unrecycled.
     */
    abandon(): void {
      state.files?.closeAll();
      state = { ...state, memory: undefined, stdin: new Uint8Array(0), files: undefined };
    },
  };
  return runner;
}

export type WagiRunner = ReturnType<typeof createWagiRunner>;
