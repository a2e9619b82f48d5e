/**
 * The worker thread: holds compiled modules, runs one request at a time in a fresh instance.
 * Each module's memory comes from the worker's memory recycler (memory-recycler.ts): after a
 * request the memory is zeroed (or dropped, when the guest grew it a lot) so the next instance
 * starts from zeros without paying for a new allocation.
 */
import { parentPort } from 'node:worker_threads';
import { isVergeError, type ErrorCode } from '../errors.js';
import { parseCgiResponse, writeCgiEnvironment, writeWagiArgv } from './wagi/cgi.js';
import { CappedBuffer, LineSink } from './output.js';
import { CStringListBuilder, ProcExit, WASI_MODULE, cStringList, createWasiImports, type WasiRequest } from './wagi/wasi-p1.js';
import { SANDBOX_MEMORY_IMPORT } from '../wasm/binary.js';
import { MemoryRecycler, type MemoryShelf } from './memory-recycler.js';
import { releaseGuestMemories } from './guest-memory.js';
import type { FromWorker, GuestRequest, GuestResponse, ToWorker, WagiModuleSpec } from '../dispatch/protocol.js';
import { VERGE_ABI_MODULE } from '../capabilities/abi.js';
import { createComponentImports, createVergeImports } from '../capabilities/guest-imports.js';
import { GuestScope } from './scope.js';
import { HostBridge } from '../dispatch/host-bridge.js';
import { ComponentExit } from './component/imports.js';
import { ComponentRunner } from './component/runner.js';
import { JobClaims } from '../dispatch/job-claims.js';

/** Room for the CGI header block on top of the body cap. */
const HEADER_ALLOWANCE = 64 * 1024;
/** Below this a response body is cheaper to clone than to transfer. */
const TRANSFER_MIN_BYTES = 16 * 1024;

interface LoadedModule extends WagiModuleSpec {
  memories: MemoryShelf | undefined;
}

const port = parentPort;
if (!port) throw new Error('sandbox/worker.js must run in a worker thread');
const post = (msg: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);

/** Module sets by app version, then by component name. */
const versions = new Map<string, Map<string, LoadedModule | ComponentRunner>>();
const recycler = new MemoryRecycler();
const stdout = new CappedBuffer();
// Set up by the load message, before any request runs.
let scope: GuestScope;
let vergeImports: ReturnType<typeof createVergeImports>;
const stderr = new LineSink((line) => scope.log('info', line, 'stderr'));
/** A component's stdout is not its response (that is wasi:http): its lines go to the log. */
const componentStdout = new LineSink((line) => scope.log('info', line, 'stdout'));
let componentImports: Record<string, unknown>;
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

function classify(err: unknown): { code: ErrorCode; message: string } {
  if (isVergeError(err)) return { code: err.code, message: err.message };
  if (err instanceof ProcExit) return { code: 'GUEST_EXIT', message: `the guest exited with code ${err.code}` };
  if (err instanceof ComponentExit) return { code: 'GUEST_EXIT', message: `${err.message} before setting a response` };
  if (err instanceof WebAssembly.RuntimeError) return { code: 'GUEST_TRAP', message: `the guest trapped: ${err.message}` };
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { code: 'GUEST_TRAP', message: 'the guest trapped: call stack exhausted (unbounded recursion?)' };
  }
  if (err instanceof WebAssembly.LinkError) return { code: 'INTERNAL', message: `could not link the guest: ${err.message}` };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

function postResponse(id: string, response: GuestResponse, settling = false): void {
  const body = response.body;
  const transfer = body.length >= TRANSFER_MIN_BYTES && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? [body.buffer as ArrayBuffer] : undefined;
  post(settling ? { t: 'done', id, response, settling } : { t: 'done', id, response }, transfer);
}

/** The deadline of the request being run, for its host calls. */
let deadlineAt: number | undefined;

function runComponent(runner: ComponentRunner, req: GuestRequest): void {
  const { spec } = runner;
  scope.begin({ id: req.id, version: req.version, component: spec.component, grants: spec.grants, deadlineAt, maxResponseBytes: spec.maxResponseBytes });
  componentStdout.reset();
  stderr.reset();
  let response: GuestResponse | undefined;
  let failure: { code: ErrorCode; message: string } | undefined;
  try {
    response = runner.run(req);
  } catch (err) {
    failure = classify(err);
  }
  componentStdout.flush();
  stderr.flush();
  scope.end();
  // Making the next instance takes milliseconds: the pool sends the next request elsewhere meanwhile.
  const settling = runner.hasNext() ? undefined : (true as const);
  if (response) postResponse(req.id, response, settling);
  else post({ t: 'fail', id: req.id, ...failure!, settling });
  try {
    runner.prepareNext();
  } catch {
    // The next request instantiates again and fails with the reason.
  }
  if (settling) post({ t: 'settled' });
}

function run(req: GuestRequest): void {
  const m = versions.get(req.version)?.get(req.component);
  if (!m) {
    post({ t: 'fail', id: req.id, code: 'INTERNAL', message: `component ${req.component} of version ${req.version} is not loaded in this worker` });
    return;
  }
  if (m instanceof ComponentRunner) return runComponent(m, req);
  scope.begin({ id: req.id, version: req.version, component: m.component, grants: m.grants, deadlineAt, maxResponseBytes: m.maxResponseBytes });
  stdout.reset(m.maxResponseBytes + HEADER_ALLOWANCE);
  stderr.reset();
  const memory = m.memories?.take();
  env.reset();
  writeCgiEnvironment(req, setEnv);
  argv.reset();
  writeWagiArgv(req, addArg);
  state = {
    memory,
    args: argv.list(),
    env: env.list(),
    stdin: req.body,
    stdinOffset: 0,
    stdout,
    stderr,
    startedNs: process.hrtime.bigint(),
  };
  let failure: { code: ErrorCode; message: string } | undefined;
  try {
    const instance = new WebAssembly.Instance(m.module, {
      [WASI_MODULE]: wasi,
      [VERGE_ABI_MODULE]: vergeImports,
      [SANDBOX_MEMORY_IMPORT.module]: { [SANDBOX_MEMORY_IMPORT.name]: memory as WebAssembly.Memory },
    });
    (instance.exports._start as () => void)();
  } catch (err) {
    if (!(err instanceof ProcExit && err.code === 0)) failure = classify(err);
  }
  stderr.flush();
  scope.end();
  if (!failure) {
    try {
      const parsed = parseCgiResponse(stdout.view(), m.maxResponseBytes);
      // Copy the body out of the reusable buffer; a large one is transferred rather than cloned again.
      postResponse(req.id, { ...parsed, body: parsed.body.slice() });
    } catch (err) {
      failure = classify(err);
    }
  }
  if (failure) post({ t: 'fail', id: req.id, ...failure });
  // Zeroing happens after the answer is posted, off the request's latency.
  state = { ...state, memory: undefined, stdin: new Uint8Array(0) };
  if (memory) m.memories!.give(memory);
}

function init(msg: Extract<ToWorker, { t: 'init' }>): void {
  claims = new JobClaims(msg.claims);
  scope = new GuestScope(() => state.memory, new HostBridge(msg.bridge.port, msg.bridge.signal), post);
  vergeImports = createVergeImports(scope);
  componentImports = createComponentImports(scope, { stdout: componentStdout, stderr });
  post({ t: 'ready' });
}

async function load(msg: Extract<ToWorker, { t: 'load' }>): Promise<void> {
  const set = new Map<string, LoadedModule | ComponentRunner>();
  try {
    for (const spec of msg.modules) {
      if (spec.kind === 'component') set.set(spec.component, await ComponentRunner.load(spec, componentImports, recycler));
      else set.set(spec.component, { ...spec, memories: spec.memory && recycler.shelf(spec.memory, 1) });
    }
  } catch (err) {
    post({ t: 'load-failed', version: msg.version, message: err instanceof Error ? err.message : String(err) });
    return;
  }
  versions.set(msg.version, set);
  post({ t: 'loaded', version: msg.version });
}

let claims: JobClaims;

/** A version's last request ended: its modules, instances and kept memories go, and their pages with the next collection. */
function unload(version: string): void {
  const set = versions.get(version);
  versions.delete(version);
  for (const m of set?.values() ?? []) {
    if (m instanceof ComponentRunner) m.unload(recycler);
    else if (m.memories) recycler.forget(m.memories);
  }
  if (recycler.collectionDue) {
    releaseGuestMemories();
    recycler.collectDropped();
  }
}

function runIfClaimed(msg: Extract<ToWorker, { t: 'run' }>): void {
  // Lost: while it waited here the pool gave it to another worker, or answered it.
  if (!claims.claim(msg)) return;
  // The deadline runs from here, as the pool's does: host calls are bounded by it.
  deadlineAt = Date.now() + msg.timeoutMs;
  run(msg.request);
  // Here, outside run() (whose frame still holds the request's memory), and once no view of a
  // dropped memory is left, a collection gives its pages back.
  if (recycler.collectionDue) {
    releaseGuestMemories();
    recycler.collectDropped();
  }
}

/**
 * Loads are asynchronous (a component's glue is imported), and messages must keep their order: a
 * run that follows a load waits for it, as does an unload. With nothing pending, runs go straight through.
 */
let pending: Promise<void> | undefined;
const inOrder = (step: () => void | Promise<void>) => {
  const next = (pending ?? Promise.resolve()).then(step);
  pending = next;
  void next.finally(() => {
    if (pending === next) pending = undefined;
  });
};

port.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'init':
      return init(msg);
    case 'load':
      return inOrder(() => load(msg));
    case 'unload':
      return inOrder(() => unload(msg.version));
    case 'run':
      if (pending) inOrder(() => runIfClaimed(msg));
      else runIfClaimed(msg);
  }
});
