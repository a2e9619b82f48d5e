/**
 * `npm run bench`: Verge against plain node:http and workerd, all in one run so the ratios are fair.
 *
 *  1. Load: GET /api/hello on each server with wrk (-t1), in alternating rounds, at each connection
 *     count, with a warm-up before every measurement; RPS, p50, p99 (median round), CPU, and the
 *     idle and peak RSS of each server process.
 *  2. Start-up: spawn → first 200, median of several runs (NODE_EXTRA_CA_CERTS removed); idle RSS of
 *     Verge with one app and with five, beside the peers (bench/lib/idle-memory.ts).
 *  3. First request: a generated ~300 KB module and examples/hello, first and second request after
 *     Verge says it is serving.
 *  4. Key-value from a guest on the SQLite backend, one worker: K kv_get / kv_set per request
 *     against the raw store in-process (bench/lib/capabilities.ts).
 *  5. Outbound HTTP from a guest: cost per http_send against undici pooled and unpooled.
 *  6. Image resize (examples/image-resize, a 1600×1200 JPEG to 400 px) against sharp in node:http
 *     (bench/lib/resize.ts).
 *  7. wasi:http components (bench/lib/components.ts): examples/users-api (a KV read) and a wasi:http-only
 *     fixture under Verge with a fresh instance per request and with instance_reuse, the fixture
 *     under `jco serve --isolate-requests instance`, and examples/hello for scale.
 *  8. Signed modules (bench/lib/signing.ts): sign and verify a generated ~500 KB and ~13 MB module
 *     in-process through the node's trust policy, beside SHA-256 alone and WebAssembly.compile.
 *  9. Tracing (bench/lib/tracing.ts): the hello load with tracing off, recorded for the dashboard
 *     only, and exported at 100 % and at 1 % to a local OTLP/HTTP sink.
 * 10. Service chaining (bench/lib/chaining.ts): one chained call (http://COMPONENT.verge.internal)
 *     against one outbound call to a node:http server on loopback, from the same WAT guest.
 * 11. Seed 002 (bench/lib/seed002.ts): examples/users-pg on a real PostgreSQL and redis-server against a
 *     node:http + pg + ioredis peer (bench/peers/users-pg-node.ts): hello, a cache hit and a cache
 *     miss; cold start, p50, p99, QPS at c50, RSS, beside the seed's published Spin/WasmEdge rows.
 * 12. Deploy propagation (bench/lib/cluster-deploys.ts): three nodes on a three-server NATS cluster,
 *     deploy through one, time until every node serves it (p50/max over BENCH_CLUSTER_DEPLOYS).
 * 13. Soak, only when named (bench/lib/soak.ts): the hello/sensor/resize mix at 80 % of its peak for
 *     ten minutes with hostile guests beside it; per-window p99, errors and RSS.
 * 14. A dated section prepended to bench/RESULTS.md.
 *
 * Each part lives in bench/lib/ (servers, prepare, load, startup, first-request, …); this file only
 * reads the knobs, runs the parts asked for, and writes the report.
 *
 * Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS (3),
 * BENCH_CONNECTIONS ("50,1"), BENCH_STARTUP_RUNS (7), BENCH_MEMORY_RUNS (3), BENCH_FIRST_RUNS (5), BENCH_BIG_KB (300),
 * BENCH_VERGE_WORKERS (Verge's default), BENCH_RESULTS (bench/RESULTS.md: the file the section goes to),
 * BENCH_KV_OPS (1000 per request), BENCH_KV_REQUESTS (20), BENCH_OUTBOUND_CALLS (20 per request, ≤ 50),
 * BENCH_OUTBOUND_REQUESTS (25), BENCH_CAP_WARMUP (5 rounds),
 * BENCH_RESIZE_SECONDS (10), BENCH_RESIZE_ROUNDS (2), BENCH_RESIZE_CONNECTIONS ("1,2,8"), BENCH_RESIZE_FIRST_RUNS (3),
 * BENCH_COMPONENTS_SECONDS (5), BENCH_COMPONENTS_ROUNDS (2), BENCH_COMPONENTS_WARMUP (2), BENCH_COMPONENTS_CONNECTIONS ("1,16"),
 * BENCH_COMPONENTS_REUSE (100), BENCH_SIGNING_RUNS (21), BENCH_SIGNING_SIZES_KB ("500,13000"),
 * BENCH_TRACING_SECONDS (10), BENCH_TRACING_ROUNDS (3), BENCH_TRACING_WARMUP (3 s), BENCH_TRACING_CONNECTIONS ("50,1"),
 * BENCH_CHAIN_CALLS (20 per request), BENCH_CHAIN_REQUESTS (40), BENCH_CHAIN_WARMUP (5 rounds),
 * BENCH_SEED002_* (see bench/lib/seed002.ts), BENCH_CLUSTER_* (see bench/lib/cluster-deploys.ts),
 * BENCH_ONLY (all but soak): a comma-separated subset of load,startup,memory,first,kv,outbound,resize,components,signing,tracing,chaining,seed002,cluster-deploys,soak, e.g. BENCH_ONLY=kv,outbound;
 * soak runs only when named (BENCH_SOAK_* in bench/lib/soak.ts)
 * (combine with BENCH_RESULTS=/tmp/x.md to keep partial runs out of bench/RESULTS.md).
 * Every server listens on 127.0.0.1 on a free port and is stopped by PID, even on failure.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { intEnv, installExitGuards, stopChild, type Child } from './lib/proc.js';
import { prependSection } from './lib/report.js';
import { createServers, type HarnessContext } from './lib/servers.js';
import { machine, prepare, workerdBin, type Machine, type Prepared } from './lib/prepare.js';
import { loadPhase, renderLoad, renderThreads, type LoadConfig, type Running } from './lib/load.js';
import { renderStartup, startupPhase, type StartupResults } from './lib/startup.js';
import { firstRequestPhase, renderFirst, type FirstRequestResults } from './lib/first-request.js';
import { idleMemoryPhase, renderIdleMemory, type IdleMemoryResults } from './lib/idle-memory.js';
import { capabilityPhases, renderCapabilities, type CapResults } from './lib/capabilities.js';
import { renderResize, resizePhase, type ResizeResults } from './lib/resize.js';
import { componentsPhase, renderComponents, type ComponentsResults } from './lib/components.js';
import { renderSigning, signingPhase, type SigningResults } from './lib/signing.js';
import { renderTracing, tracingPhase, type TracingResults } from './lib/tracing.js';
import { chainingPhase, renderChaining, type ChainingResults } from './lib/chaining.js';
import { renderSeed002, seed002Phase, type Seed002Results } from './lib/seed002.js';
import { renderSoak, soakPhase, type SoakResults } from './lib/soak.js';
import { clusterDeploysPhase, renderClusterDeploys, type ClusterDeploysResults } from './lib/cluster-deploys.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = path.join(ROOT, 'bench');
const WORK = path.join(BENCH, '.work');
const RESULTS = path.resolve(process.env.BENCH_RESULTS ?? path.join(BENCH, 'RESULTS.md'));

const SECONDS = intEnv('BENCH_SECONDS', 10);
const LOAD: LoadConfig = {
  seconds: SECONDS,
  rounds: intEnv('BENCH_ROUNDS', 3),
  warmup: intEnv('BENCH_WARMUP_SECONDS', Math.min(3, Math.max(1, Math.round(SECONDS / 3)))),
  connections: (process.env.BENCH_CONNECTIONS ?? '50,1').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`BENCH_CONNECTIONS: ${JSON.stringify(s)} is not a connection count`);
    return n;
  }),
};
const STARTUP_RUNS = intEnv('BENCH_STARTUP_RUNS', 7);
const FIRST_RUNS = intEnv('BENCH_FIRST_RUNS', 5);
const MEMORY_RUNS = intEnv('BENCH_MEMORY_RUNS', 3);
const BIG_KB = intEnv('BENCH_BIG_KB', 300);
/** Verge's --workers; by default Verge's own default (the available cores). */
const VERGE_WORKERS = intEnv('BENCH_VERGE_WORKERS', os.availableParallelism());
const VERGE_WORKER_ARGS = process.env.BENCH_VERGE_WORKERS ? ['--workers', String(VERGE_WORKERS)] : [];
const KV_OPS = intEnv('BENCH_KV_OPS', 1000);
const KV_REQUESTS = intEnv('BENCH_KV_REQUESTS', 20);
const OUTBOUND_CALLS = intEnv('BENCH_OUTBOUND_CALLS', 20);
const OUTBOUND_REQUESTS = intEnv('BENCH_OUTBOUND_REQUESTS', 25);
const CAP_WARMUP = intEnv('BENCH_CAP_WARMUP', 5);

const PARTS = ['load', 'startup', 'memory', 'first', 'kv', 'outbound', 'resize', 'components', 'signing', 'tracing', 'chaining', 'seed002', 'cluster-deploys', 'soak'] as const;
/** Parts that run only when BENCH_ONLY names them: the soak takes ten minutes and more. */
const OPT_IN: ReadonlySet<string> = new Set(['soak']);
type Part = (typeof PARTS)[number];
const ONLY: ReadonlySet<Part> = (() => {
  const raw = (process.env.BENCH_ONLY ?? '').trim();
  if (raw === '') return new Set(PARTS.filter((p) => !OPT_IN.has(p)));
  const set = new Set<Part>();
  for (const p of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_ONLY: ${JSON.stringify(p)} is not one of ${PARTS.join(', ')}`);
    set.add(p as Part);
  }
  return set;
})();
const runs = (p: Part) => ONLY.has(p);
/** workerd is only needed by the load, start-up and memory phases. */
const NEEDS_WORKERD = runs('load') || runs('startup') || runs('memory');

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const notes: string[] = [];

const started = new Set<Child>();
function track(child: Child): Child {
  started.add(child);
  child.exited.then(() => started.delete(child));
  return child;
}
async function stop(child: Child): Promise<void> {
  await stopChild(child);
  started.delete(child);
}

const H: HarnessContext = {
  root: ROOT,
  work: WORK,
  vergeBin: path.join(ROOT, 'bin', 'verge.js'),
  helloDir: path.join(ROOT, 'examples', 'hello'),
  nodePeer: path.join(ROOT, 'dist', 'bench', 'peers', 'node-http.js'),
  workerdConfig: path.join(BENCH, 'peers', 'workerd.capnp'),
  workerdBin: workerdBin(WORK),
  vergeWorkerArgs: VERGE_WORKER_ARGS,
  vergeWorkers: VERGE_WORKERS,
  log,
  notes,
  track,
  stop,
};
const SERVERS = createServers(H);

// ---------------------------------------------------------------------------------------------
// Report

function command(): string {
  const knobs = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  return [...knobs, 'npm run bench'].join(' ');
}

interface Results {
  running?: Running[];
  startup?: StartupResults;
  memory?: IdleMemoryResults;
  first?: FirstRequestResults;
  caps?: CapResults;
  resize?: ResizeResults;
  components?: ComponentsResults;
  signing?: SigningResults;
  tracing?: TracingResults;
  chaining?: ChainingResults;
  seed002?: Seed002Results;
  soak?: SoakResults;
  clusterDeploys?: ClusterDeploysResults;
}

function render(m: Machine, prep: Prepared, res: Results): string {
  const out: string[] = [];
  out.push(`## ${m.date}`);
  out.push('');
  out.push(`- Machine: ${m.cores} cores, ${m.cpu}; ${m.kernel}; Node ${m.node}; ${m.workerd}; ${m.wrk}`);
  out.push(`- Command: \`${command()}\` (verge src at ${m.git})`);
  if (ONLY.size < PARTS.length) out.push(`- Partial run: only ${[...ONLY].join(', ')} (BENCH_ONLY).`);
  if (res.running) renderLoad(out, H, LOAD, m, prep, res.running);
  else out.push('');
  if (res.startup) renderStartup(out, res.startup);
  if (res.memory) out.push(renderIdleMemory(res.memory));
  if (res.first) renderFirst(out, res.first);
  if (res.running) renderThreads(out, H, LOAD, res.running.find((r) => r.def.key === 'verge')!);
  if (res.caps) {
    out.push(renderCapabilities(res.caps));
  }
  if (res.resize) out.push(renderResize(res.resize, VERGE_WORKERS));
  if (res.components) out.push(renderComponents(res.components));
  if (res.signing) out.push(renderSigning(res.signing));
  if (res.tracing) out.push(renderTracing(res.tracing));
  if (res.chaining) out.push(renderChaining(res.chaining));
  if (res.seed002) out.push(renderSeed002(res.seed002));
  if (res.soak) out.push(renderSoak(res.soak));
  if (res.clusterDeploys) out.push(renderClusterDeploys(res.clusterDeploys));
  if (notes.length > 0) {
    out.push('### Notes');
    out.push('');
    const seen = new Map<string, number>();
    for (const n of notes) seen.set(n, (seen.get(n) ?? 0) + 1);
    for (const [n, count] of seen) out.push(`- ${n}${count > 1 ? ` (×${count})` : ''}`);
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  installExitGuards();
  log(`parts: ${[...ONLY].join(', ')}`);
  // prepare() first: it installs workerd on first use, and machine() asks it for its version.
  const prep = await prepare(H, { needsWorkerd: NEEDS_WORKERD, needsHello: runs('load') || runs('startup') || runs('memory') || runs('first') || runs('tracing'), bigKb: BIG_KB });
  const m = machine(H, NEEDS_WORKERD);
  log(`${m.date}; ${m.cores} cores, ${m.cpu}; Node ${m.node}; ${m.workerd}`);
  log(`rounds ${LOAD.rounds} × c${LOAD.connections.join('/c')} × ${LOAD.seconds} s (warm-up ${LOAD.warmup} s); start-up runs ${STARTUP_RUNS}; first-request runs ${FIRST_RUNS}`);
  const res: Results = {};
  const phaseCfg = { root: ROOT, work: WORK, vergeBin: H.vergeBin, vergeWorkerArgs: VERGE_WORKER_ARGS, vergeWorkers: VERGE_WORKERS, log, notes, track };

  if (runs('load')) res.running = await loadPhase(H, LOAD, SERVERS);
  if (runs('startup')) res.startup = await startupPhase(H, SERVERS, STARTUP_RUNS);
  if (runs('memory')) res.memory = await idleMemoryPhase(H, SERVERS, MEMORY_RUNS);
  if (runs('first')) res.first = await firstRequestPhase(H, SERVERS[0]!, prep, FIRST_RUNS);
  if (runs('kv') || runs('outbound')) {
    res.caps = await capabilityPhases(
      {
        root: ROOT,
        work: WORK,
        vergeBin: H.vergeBin,
        nodePeer: H.nodePeer,
        kvOps: KV_OPS,
        kvRequests: KV_REQUESTS,
        outboundCalls: OUTBOUND_CALLS,
        outboundRequests: OUTBOUND_REQUESTS,
        warmupRounds: CAP_WARMUP,
        log,
        notes,
        track,
      },
      { kv: runs('kv'), outbound: runs('outbound') },
    );
  }
  if (runs('resize')) res.resize = await resizePhase(phaseCfg);
  if (runs('components')) res.components = await componentsPhase(phaseCfg);
  if (runs('signing')) res.signing = await signingPhase({ work: WORK, log });
  if (runs('tracing')) res.tracing = await tracingPhase(phaseCfg);
  if (runs('chaining')) res.chaining = await chainingPhase({ root: ROOT, work: WORK, vergeBin: H.vergeBin, nodePeer: H.nodePeer, log, notes, track });
  if (runs('seed002')) res.seed002 = await seed002Phase(phaseCfg);
  if (runs('cluster-deploys')) res.clusterDeploys = await clusterDeploysPhase({ log });
  if (runs('soak')) res.soak = await soakPhase(phaseCfg);

  const section = render(m, prep, res);
  prependSection(RESULTS, section);
  process.stdout.write(section + '\n');
  log(`appended to ${path.relative(ROOT, RESULTS)}`);
}

main()
  .catch((err) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await Promise.all([...started].map((c) => stopChild(c)));
  });
