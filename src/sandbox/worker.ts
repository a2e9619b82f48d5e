/**
 * A worker thread's entry: the message loop and nothing else. It holds module sets by app
 * version (loaded and unloaded on the pool's word), runs one request at a time — a WAGI module
 * (wagi/runner.ts) or a component (component/runner.ts), each in a fresh instance unless the
 * component reuses them — and hands both runners the worker's one memory recycler and scope.
 */
import { parentPort } from 'node:worker_threads';
import type { FromWorker, RunOrder, ToWorker } from '../dispatch/protocol.js';
import { createComponentImports, createVergeImports } from '../capabilities/guest-imports.js';
import { HostBridge } from '../dispatch/host-bridge.js';
import { JobClaims } from '../dispatch/job-claims.js';
import { MemoryRecycler } from './memory-recycler.js';
import { releaseGuestMemories } from './guest-memory.js';
import { LineSink } from './output.js';
import { GuestScope } from './scope.js';
import { LastWords } from './guest-failure.js';
import { ComponentRunner } from './component/runner.js';
import { serveComponent } from './component/serve.js';
import { createWagiRunner, loadWagiModule, type WagiModule, type WagiRunner } from './wagi/runner.js';
import { ChainedRuns } from './chained.js';
import { epochMs } from '../telemetry/trace/context.js';
import { currentTid } from '../dispatch/thread-priority.js';

const port = parentPort;
if (!port) throw new Error('sandbox/worker.js must run in a worker thread');
const post = (msg: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(msg, transfer ?? []);

/** Module sets by app version, then by component name. */
const versions = new Map<string, Map<string, WagiModule | ComponentRunner>>();
const recycler = new MemoryRecycler();
// Set up by the init message, before anything else.
let claims: JobClaims;
let scope: GuestScope;
let wagi: WagiRunner;
let chained: ChainedRuns;
/** The WAGI runners running now, innermost last: the verge:v1 bindings read the innermost's memory (a chained callee's while it runs). */
const wagiRunning: WagiRunner[] = [];
let componentImports: Record<string, unknown>;
// A trap's backtrace is read from its stack: a Rust panic is ~10 frames deep in std before the guest's own.
Error.stackTraceLimit = 64;
const lastWords = new LastWords();
const stderr = new LineSink((line) => {
  lastWords.line(line);
  scope.log('info', line, 'stderr');
});
/** A component's stdout is not its response (that is wasi:http): its lines go to the log. */
const componentStdout = new LineSink((line) => scope.log('info', line, 'stdout'));

function init(msg: Extract<ToWorker, { t: 'init' }>): void {
  claims = new JobClaims(msg.claims);
  scope = new GuestScope(() => wagiRunning[wagiRunning.length - 1]?.memory(), new HostBridge(msg.bridge.port, msg.bridge.signal), post);
  const vergeImports = createVergeImports(scope);
  wagi = createWagiRunner({ scope, post, stderr, lastWords, vergeImports });
  wagiRunning.push(wagi);
  chained = new ChainedRuns({
    scope,
    post,
    vergeImports,
    find: (version, component) => {
      const m = versions.get(version)?.get(component);
      return m && { runnable: m, callee: m instanceof ComponentRunner ? m.spec.callee : m.callee };
    },
    enterWagi: (runner) => void wagiRunning.push(runner),
    wagiDepth: () => wagiRunning.length,
    leaveWagi: (depth) => void (wagiRunning.length = depth),
  });
  scope.chained = (request, target, budget, traceparent) => chained.call(request, target, budget, traceparent);
  componentImports = createComponentImports(scope, { stdout: componentStdout, stderr });
  post({ t: 'ready', tid: currentTid() });
}

async function load(msg: Extract<ToWorker, { t: 'load' }>): Promise<void> {
  const set = new Map<string, WagiModule | ComponentRunner>();
  try {
    for (const spec of msg.modules) {
      if (spec.kind === 'component') set.set(spec.component, await ComponentRunner.load(spec, componentImports, recycler, (d, call, fn) => scope.dependency(d, call, fn)));
      else set.set(spec.component, loadWagiModule(spec, recycler));
    }
  } catch (err) {
    post({ t: 'load-failed', version: msg.version, message: err instanceof Error ? err.message : String(err) });
    return;
  }
  versions.set(msg.version, set);
  post({ t: 'loaded', version: msg.version });
}

/** A version's last request ended: its modules, instances and kept memories go, and their pages with the next collection. */
function unload(version: string): void {
  const set = versions.get(version);
  versions.delete(version);
  for (const m of set?.values() ?? []) {
    if (m instanceof ComponentRunner) m.unload(recycler);
    else if (m.memories) recycler.forget(m.memories);
  }
  collectIfDue();
}

/** Outside a request's frame (which still holds its memory), once no view of a dropped memory is left, a collection gives its pages back. */
function collectIfDue(): void {
  if (!recycler.collectionDue) return;
  releaseGuestMemories();
  recycler.collectDropped();
}

function runIfClaimed(msg: RunOrder): void {
  // Lost: while it waited here the pool gave it to another worker, or answered it.
  if (!claims.claim(msg)) return;
  // The deadline runs from here, as the pool's does: host calls are bounded by it.
  const deadlineAt = Date.now() + msg.timeoutMs;
  const req = msg.request;
  // Its queue wait ends here.
  scope.measures.start(req.id, epochMs());
  const m = versions.get(req.version)?.get(req.component);
  chained.serving(req);
  if (!m) post({ t: 'fail', id: req.id, code: 'INTERNAL', message: `component ${req.component} of version ${req.version} is not loaded in this worker` });
  else if (m instanceof ComponentRunner) serveComponent({ scope, post, stdout: componentStdout, stderr, lastWords }, m, req, deadlineAt);
  else wagi.run(m, req, deadlineAt);
  // Answered: what its chained calls left is tidied now, off its latency.
  chained.settle();
  collectIfDue();
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
      for (const run of msg.runs) {
        if (pending) inOrder(() => runIfClaimed(run));
        else runIfClaimed(run);
      }
  }
});
