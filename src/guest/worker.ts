/**
 * The worker thread: holds compiled modules, runs one request at a time in a fresh instance.
 * Each module's memory is supplied from a one-slot recycle bin: after a request the memory is
 * zeroed (or dropped, when the guest grew it a lot) so the next instance starts from zeros
 * without paying for a new allocation.
 */
import { parentPort } from 'node:worker_threads';
import { isVergeError, type ErrorCode } from '../errors.js';
import { parseCgiResponse, writeCgiEnvironment } from './cgi.js';
import { CappedBuffer, LineSink } from './output.js';
import { CStringListBuilder, ProcExit, WASI_MODULE, cStringList, createWasiImports, type CStringList, type WasiRequest } from './wasi-p1.js';
import { RECYCLE_GROWTH_BYTES, SANDBOX_MEMORY_IMPORT, WASM_PAGE_BYTES } from '../wasm/binary.js';
import type { FromWorker, GuestRequest, GuestResponse, ToWorker, WagiModuleSpec } from '../dispatch/protocol.js';
import { VERGE_ABI_MODULE } from '../capabilities/abi.js';
import { createComponentImports, createVergeImports } from '../capabilities/guest-imports.js';
import { GuestScope } from '../capabilities/guest-scope.js';
import { HostBridge } from '../capabilities/host-bridge.js';
import { ComponentExit } from '../component/imports.js';
import { ComponentRunner } from '../component/runner.js';

/** Room for the CGI header block on top of the body cap. */
const HEADER_ALLOWANCE = 64 * 1024;
/** Below this a response body is cheaper to clone than to transfer. */
const TRANSFER_MIN_BYTES = 16 * 1024;

interface LoadedModule extends WagiModuleSpec {
  spare: WebAssembly.Memory | undefined;
  args: CStringList;
}

const port = parentPort;
if (!port) throw new Error('guest/worker.js must run in a worker thread');
const post = (msg: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);

const modules = new Map<string, LoadedModule>();
const components = new Map<string, ComponentRunner>();
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

function acquireMemory(m: LoadedModule): WebAssembly.Memory | undefined {
  if (!m.memory) return undefined;
  const spare = m.spare;
  if (spare) {
    m.spare = undefined;
    return spare;
  }
  return new WebAssembly.Memory({ initial: m.memory.initialPages, maximum: m.memory.maximumPages });
}

function recycleMemory(m: LoadedModule, memory: WebAssembly.Memory | undefined): void {
  if (!memory || !m.memory) return;
  const bytes = memory.buffer.byteLength;
  if (bytes > m.memory.initialPages * WASM_PAGE_BYTES + RECYCLE_GROWTH_BYTES) return;
  new Uint8Array(memory.buffer).fill(0);
  m.spare = memory;
}

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
  const runner = components.get(req.component);
  if (runner) return runComponent(runner, req);
  const m = modules.get(req.component);
  if (!m) {
    post({ t: 'fail', id: req.id, code: 'INTERNAL', message: `component ${req.component} is not loaded in this worker` });
    return;
  }
  scope.begin({ id: req.id, version: req.version, component: m.component, grants: m.grants, deadlineAt, maxResponseBytes: m.maxResponseBytes });
  stdout.reset(m.maxResponseBytes + HEADER_ALLOWANCE);
  stderr.reset();
  const memory = acquireMemory(m);
  env.reset();
  writeCgiEnvironment(req, setEnv);
  state = {
    memory,
    args: m.args,
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
  recycleMemory(m, memory);
}

/** Components' glue is imported asynchronously at load; requests that arrive meanwhile wait for it. */
let loading: Promise<void> = Promise.resolve();

async function load(msg: Extract<ToWorker, { t: 'load' }>): Promise<void> {
  scope ??= new GuestScope(() => state.memory, new HostBridge(msg.bridge.port, msg.bridge.signal), post);
  vergeImports ??= createVergeImports(scope);
  componentImports ??= createComponentImports(scope, { stdout: componentStdout, stderr });
  for (const spec of msg.modules) {
    if (spec.kind === 'component') components.set(spec.component, await ComponentRunner.load(spec, componentImports));
    else modules.set(spec.component, { ...spec, spare: undefined, args: cStringList([spec.component]) });
  }
  post({ t: 'ready' });
}

function runOrExpire(msg: Extract<ToWorker, { t: 'run' }>): void {
  // It waited behind another request in this worker past its deadline; the pool has answered it.
  if (Date.now() > msg.deadlineAt) post({ t: 'fail', id: msg.request.id, code: 'DEADLINE_EXCEEDED', message: 'expired before it started' });
  else {
    deadlineAt = msg.deadlineAt;
    run(msg.request);
  }
}

let loaded = false;
port.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'load':
      loading = load(msg).then(() => {
        loaded = true;
      });
      break;
    case 'run':
      if (loaded) runOrExpire(msg);
      else void loading.then(() => runOrExpire(msg));
      break;
  }
});
