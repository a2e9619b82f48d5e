/**
 * Serving a request with a WAGI module inside a worker: a fresh instance per request, the request
 * as a CGI environment, argv and stdin, the response parsed from stdout. The instance's memory
 * comes from the worker's recycler and goes back to it after the answer is posted.
 */
import type { GuestRequest, WagiModuleSpec } from '../../dispatch/protocol.js';
import { VERGE_ABI_MODULE } from '../../capabilities/abi.js';
import { SANDBOX_MEMORY_IMPORT } from '../../wasm/binary.js';
import { classify, postFailure, postResponse, type Failure, type Post } from '../answer.js';
import type { MemoryRecycler, MemoryShelf } from '../memory-recycler.js';
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
  memories: MemoryShelf | undefined;
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
  return { ...spec, memories: spec.memory && recycler.shelf(spec.memory, 1) };
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

  return {
    /** The memory of the instance running now (the verge:v1 bindings read and write it). */
    memory: (): WebAssembly.Memory | undefined => state.memory,

    run(m: WagiModule, req: GuestRequest, deadlineAt: number | undefined): void {
      const { scope, post, stderr } = ctx;
      const { spans } = scope.begin({ id: req.id, version: req.version, component: m.component, grants: m.grants, deadlineAt, maxResponseBytes: m.maxResponseBytes, trace: req.trace });
      spans?.queued();
      stdout.reset(m.maxResponseBytes + HEADER_ALLOWANCE);
      stderr.reset();
      ctx.lastWords.reset();
      const memory = m.memories?.take();
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
      let step = spans?.start('instantiate', { 'verge.instance': 'fresh' });
      try {
        const started = performance.now();
        const instance = new WebAssembly.Instance(m.module, {
          [WASI_MODULE]: wasi,
          [VERGE_ABI_MODULE]: ctx.vergeImports,
          [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory as WebAssembly.Memory },
        });
        scope.measures.instantiated(performance.now() - started, false);
        if (step) spans!.end(step);
        step = spans?.startGuest();
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
      if (!failure) {
        try {
          const parsed = parseCgiResponse(stdout.view(), m.maxResponseBytes);
          // Copy the body out of the reusable buffer; a large one is transferred rather than cloned again.
          postResponse(post, req.id, { ...parsed, body: parsed.body.slice() }, false, spans?.encode(), scope.measures);
        } catch (err) {
          failure = classify(err);
        }
      }
      if (failure) postFailure(post, req.id, failure, undefined, spans?.encode(), scope.measures);
      // Zeroing happens after the answer is posted, off the request's latency.
      state = { ...state, memory: undefined, stdin: new Uint8Array(0), files: undefined };
      if (memory) m.memories!.give(memory);
    },
  };
}
