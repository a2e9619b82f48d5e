/**
 * `npm run bench`: Verge against plain node:http and workerd, all in one run so the ratios are fair.
 *
 *  1. Load: GET /api/hello on each server with wrk (-t1), in alternating rounds, at each connection
 *     count, with a warm-up before every measurement; RPS, p50, p99 (median round), CPU, and the
 *     idle and peak RSS of each server process.
 *  2. Start-up: spawn → first 200, median of several runs (NODE_EXTRA_CA_CERTS removed).
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
 * 13. A dated section prepended to bench/RESULTS.md.
 *
 * Knobs (environment): BENCH_SECONDS (10), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS (3),
 * BENCH_CONNECTIONS ("50,1"), BENCH_STARTUP_RUNS (7), BENCH_FIRST_RUNS (5), BENCH_BIG_KB (300),
 * BENCH_VERGE_WORKERS (Verge's default), BENCH_RESULTS (bench/RESULTS.md: the file the section goes to),
 * BENCH_KV_OPS (1000 per request), BENCH_KV_REQUESTS (20), BENCH_OUTBOUND_CALLS (20 per request, ≤ 50),
 * BENCH_OUTBOUND_REQUESTS (25), BENCH_CAP_WARMUP (5 rounds),
 * BENCH_RESIZE_SECONDS (10), BENCH_RESIZE_ROUNDS (2), BENCH_RESIZE_CONNECTIONS ("1,2,8"), BENCH_RESIZE_FIRST_RUNS (3),
 * BENCH_COMPONENTS_SECONDS (5), BENCH_COMPONENTS_ROUNDS (2), BENCH_COMPONENTS_WARMUP (2), BENCH_COMPONENTS_CONNECTIONS ("1,16"),
 * BENCH_COMPONENTS_REUSE (100), BENCH_SIGNING_RUNS (21), BENCH_SIGNING_SIZES_KB ("500,13000"),
 * BENCH_TRACING_SECONDS (10), BENCH_TRACING_ROUNDS (3), BENCH_TRACING_WARMUP (3 s), BENCH_TRACING_CONNECTIONS ("50,1"),
 * BENCH_CHAIN_CALLS (20 per request), BENCH_CHAIN_REQUESTS (40), BENCH_CHAIN_WARMUP (5 rounds),
 * BENCH_SEED002_* (see bench/lib/seed002.ts), BENCH_CLUSTER_* (see bench/lib/cluster-deploys.ts),
 * BENCH_ONLY (all): a comma-separated subset of load,startup,first,kv,outbound,resize,components,signing,tracing,chaining,seed002,cluster-deploys, e.g. BENCH_ONLY=kv,outbound
 * (combine with BENCH_RESULTS=/tmp/x.md to keep partial runs out of bench/RESULTS.md).
 * Every server listens on 127.0.0.1 on a free port and is stopped by PID, even on failure.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  childEnv,
  freePort,
  intEnv,
  httpGet,
  installExitGuards,
  machineTicks,
  pollUntil200,
  processTicks,
  readMemory,
  sleep,
  startChild,
  stopChild,
  threadTicks,
  type Child,
} from './lib/proc.js';
import { runWrk, type WrkResult } from './lib/wrk.js';
import { BIG_BODY, buildBigModule } from './lib/bigmodule.js';
import { fmtInt, fmtMiB, fmtMs, fmtPct, fmtRatio, median, medianBy, prependSection, table } from './lib/report.js';
import { capabilityPhases, renderCapabilities, type CapResults } from './lib/capabilities.js';
import { renderResize, resizePhase, type ResizeResults } from './lib/resize.js';
import { componentsPhase, renderComponents, type ComponentsResults } from './lib/components.js';
import { renderSigning, signingPhase, type SigningResults } from './lib/signing.js';
import { renderTracing, tracingPhase, type TracingResults } from './lib/tracing.js';
import { chainingPhase, renderChaining, type ChainingResults } from './lib/chaining.js';
import { renderSeed002, seed002Phase, type Seed002Results } from './lib/seed002.js';
import { clusterDeploysPhase, renderClusterDeploys, type ClusterDeploysResults } from './lib/cluster-deploys.js';

// ---------------------------------------------------------------------------------------------
// Configuration

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH = path.join(ROOT, 'bench');
const WORK = path.join(BENCH, '.work');
const VERGE_BIN = path.join(ROOT, 'bin', 'verge.js');
const HELLO_DIR = path.join(ROOT, 'examples', 'hello');
const HELLO_WASM = path.join(HELLO_DIR, 'build', 'hello.wasm');
const NODE_PEER = path.join(ROOT, 'dist', 'bench', 'peers', 'node-http.js');
const WORKERD_CONFIG = path.join(BENCH, 'peers', 'workerd.capnp');
// workerd is a peer for the benchmark only: installed on first use into bench/.work rather than
// as a devDependency, so `npm ci` stays lean and does not need every platform's binary in the lockfile.
const WORKERD_PACKAGE = '@cloudflare/workerd-linux-64@1.20261117.1';
const WORKERD_PREFIX = path.join(WORK, 'peers');
const WORKERD_BIN = path.join(WORKERD_PREFIX, 'node_modules', '@cloudflare', 'workerd-linux-64', 'bin', 'workerd');
const RESULTS = path.resolve(process.env.BENCH_RESULTS ?? path.join(BENCH, 'RESULTS.md'));

const HELLO_PATH = '/api/hello';
const HELLO_BODY = '{"message":"Hello from Wasm!"}';

const SECONDS = intEnv('BENCH_SECONDS', 10);
const ROUNDS = intEnv('BENCH_ROUNDS', 3);
const WARMUP = intEnv('BENCH_WARMUP_SECONDS', Math.min(3, Math.max(1, Math.round(SECONDS / 3))));
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '50,1').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`BENCH_CONNECTIONS: ${JSON.stringify(s)} is not a connection count`);
  return n;
});
const STARTUP_RUNS = intEnv('BENCH_STARTUP_RUNS', 7);
const FIRST_RUNS = intEnv('BENCH_FIRST_RUNS', 5);
const BIG_KB = intEnv('BENCH_BIG_KB', 300);
/** Verge's --workers; by default Verge's own default (the available cores). */
const VERGE_WORKERS = intEnv('BENCH_VERGE_WORKERS', os.availableParallelism());
const VERGE_WORKER_ARGS = process.env.BENCH_VERGE_WORKERS ? ['--workers', String(VERGE_WORKERS)] : [];
const MAIN_C = Math.max(...CONNECTIONS);
const KV_OPS = intEnv('BENCH_KV_OPS', 1000);
const KV_REQUESTS = intEnv('BENCH_KV_REQUESTS', 20);
const OUTBOUND_CALLS = intEnv('BENCH_OUTBOUND_CALLS', 20);
const OUTBOUND_REQUESTS = intEnv('BENCH_OUTBOUND_REQUESTS', 25);
const CAP_WARMUP = intEnv('BENCH_CAP_WARMUP', 5);

const PARTS = ['load', 'startup', 'first', 'kv', 'outbound', 'resize', 'components', 'signing', 'tracing', 'chaining', 'seed002', 'cluster-deploys'] as const;
type Part = (typeof PARTS)[number];
const ONLY: ReadonlySet<Part> = (() => {
  const raw = (process.env.BENCH_ONLY ?? '').trim();
  if (raw === '') return new Set(PARTS);
  const set = new Set<Part>();
  for (const p of raw.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`BENCH_ONLY: ${JSON.stringify(p)} is not one of ${PARTS.join(', ')}`);
    set.add(p as Part);
  }
  return set;
})();
const runs = (p: Part) => ONLY.has(p);
/** workerd is only needed by the load and start-up phases. */
const NEEDS_WORKERD = runs('load') || runs('startup');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const notes: string[] = [];

// ---------------------------------------------------------------------------------------------
// The three servers

type ServerKey = 'verge' | 'node' | 'workerd';

interface ServerDef {
  key: ServerKey;
  label: string;
  start(port: number, manifest?: string): Child;
  /** A stderr line the server prints once it listens, when it has one. */
  readyLine: RegExp | undefined;
}

const SERVERS: ServerDef[] = [
  {
    key: 'verge',
    label: 'Verge',
    start: (port, manifest = HELLO_DIR) =>
      startChild('verge', process.execPath, [VERGE_BIN, 'up', manifest, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...VERGE_WORKER_ARGS], { cwd: ROOT }),
    readyLine: /^Serving /,
  },
  {
    key: 'node',
    label: 'node:http',
    start: (port) => startChild('node:http', process.execPath, [NODE_PEER, `127.0.0.1:${port}`], { cwd: ROOT }),
    readyLine: /^node:http peer on /,
  },
  {
    key: 'workerd',
    label: 'workerd',
    start: (port) => startChild('workerd', WORKERD_BIN, ['serve', WORKERD_CONFIG, '--socket-addr', `http=127.0.0.1:${port}`], { cwd: ROOT }),
    readyLine: undefined,
  },
];

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

// ---------------------------------------------------------------------------------------------
// Preparation

function run(cmd: string, args: string[], what: string, timeoutMs = 300_000): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, env: childEnv(), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}\n${r.stderr ?? ''}`);
  }
  return `${r.stdout}${r.stderr}`;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

interface Machine {
  date: string;
  cores: number;
  cpu: string;
  node: string;
  workerd: string;
  wrk: string;
  kernel: string;
  git: string;
}

function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const git = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' });
  return {
    date: firstLine(spawnSync('date', ['-u'], { encoding: 'utf8' }).stdout ?? new Date().toUTCString()),
    cores: os.availableParallelism(),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    workerd: NEEDS_WORKERD || existsSync(WORKERD_BIN) ? firstLine(run(WORKERD_BIN, ['--version'], 'workerd --version')) : 'workerd not used',
    wrk: firstLine(`${wrk.stdout ?? ''}${wrk.stderr ?? ''}`).replace(/\s*Copyright.*$/, ''),
    kernel: `${os.type()} ${os.release()}`,
    git: git.status === 0 ? `${git.stdout.trim()}${dirty.stdout?.trim() ? ' + uncommitted changes in src/' : ''}` : 'unknown',
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

interface Prepared {
  helloBytes: number;
  helloSha: string;
  bigManifest: string;
  bigBytes: number;
  bigFunctions: number;
}

async function prepare(): Promise<Prepared> {
  if (NEEDS_WORKERD && !existsSync(WORKERD_BIN)) {
    log(`installing the workerd peer (${WORKERD_PACKAGE}) into ${WORKERD_PREFIX}`);
    mkdirSync(WORKERD_PREFIX, { recursive: true });
    run('npm', ['install', '--no-save', '--no-package-lock', '--prefix', WORKERD_PREFIX, WORKERD_PACKAGE], 'npm install workerd');
  }
  for (const f of [VERGE_BIN, NODE_PEER, ...(NEEDS_WORKERD ? [WORKERD_CONFIG, WORKERD_BIN] : [])]) {
    if (!existsSync(f)) throw new Error(`missing ${f} (run \`npm run build\`)`);
  }
  if (!existsSync(path.join(HELLO_DIR, 'verge.toml'))) throw new Error(`missing ${HELLO_DIR}/verge.toml`);
  mkdirSync(WORK, { recursive: true });
  if (!(runs('load') || runs('startup') || runs('first') || runs('tracing'))) return { helloBytes: NaN, helloSha: 'n/a', bigManifest: '', bigBytes: NaN, bigFunctions: 0 };
  log('building examples/hello (verge build examples/hello)');
  run(process.execPath, [VERGE_BIN, 'build', 'examples/hello'], 'verge build examples/hello');
  const hello = readFileSync(HELLO_WASM);
  mkdirSync(WORK, { recursive: true });
  // workerd embeds bench/.work/hello.wasm (see peers/workerd.capnp): the same bytes Verge serves.
  copyFileSync(HELLO_WASM, path.join(WORK, 'hello.wasm'));

  log(`generating a ~${BIG_KB} KB module with wabt`);
  const big = await buildBigModule(BIG_KB * 1000);
  const bigDir = path.join(WORK, 'big');
  mkdirSync(bigDir, { recursive: true });
  writeFileSync(path.join(bigDir, 'big.wasm'), big.bytes);
  writeFileSync(
    path.join(bigDir, 'verge.toml'),
    ['[application]', 'name = "bench-big"', '', '[component.big]', 'source = "big.wasm"', '', '[[route]]', 'path = "/big"', 'component = "big"', ''].join('\n'),
  );
  return { helloBytes: hello.length, helloSha: sha256(hello), bigManifest: bigDir, bigBytes: big.bytes.length, bigFunctions: big.functions };
}

// ---------------------------------------------------------------------------------------------
// 1. Load

interface Measurement {
  round: number;
  wrk: WrkResult;
  seconds: number;
  /** CPU of the server process (all threads), in % of one core. */
  serverCpu: number;
  /** Per-thread CPU (% of one core) by TID. */
  threads: Array<{ tid: number; cpu: number }>;
  /** wrk's CPU, % of one core (sampled every 200 ms, so a slight underestimate). */
  wrkCpu: number;
  /** The whole machine, % of all cores. */
  machineBusy: number;
  peakRssKiB: number;
}

interface Running {
  def: ServerDef;
  child: Child;
  url: string;
  idleRssKiB: number;
  peakHwmKiB: number;
  measurements: Map<number, Measurement[]>;
}

function verifyHello(label: string, r: { status: number; headers: Record<string, unknown>; body: string }): void {
  const type = String(r.headers['content-type'] ?? '');
  if (r.status !== 200 || r.body !== HELLO_BODY || !type.startsWith('application/json')) {
    throw new Error(`${label}: GET ${HELLO_PATH} answered ${r.status} (${type}) ${JSON.stringify(r.body.slice(0, 300))}, expected 200 application/json ${HELLO_BODY}`);
  }
}

async function startForLoad(def: ServerDef): Promise<Running> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${HELLO_PATH}`;
  const child = track(def.start(port));
  const ready = await pollUntil200(child, url, 30_000, 10);
  for (const n of ready.non200) notes.push(`${def.label} answered \`${n.slice(0, 160)}\` while starting up (before its first 200).`);
  // Check the body a few times, on separate connections.
  for (let i = 0; i < 5; i++) {
    const r = await httpGet(url);
    verifyHello(def.label, r);
  }
  await sleep(1000);
  const mem = readMemory(child.pid);
  log(`${def.label}: pid ${child.pid}, ${url}, idle RSS ${fmtMiB(mem?.rssKiB ?? NaN)}`);
  return { def, child, url, idleRssKiB: mem?.rssKiB ?? NaN, peakHwmKiB: NaN, measurements: new Map() };
}

async function measure(s: Running, connections: number, round: number): Promise<Measurement> {
  const pid = s.child.pid;
  let peakRss = 0;
  let wrkPid: number | undefined;
  let wrkTicks = 0;
  const sample = () => {
    const m = readMemory(pid);
    if (m && m.rssKiB > peakRss) peakRss = m.rssKiB;
    if (wrkPid !== undefined) {
      const t = processTicks(wrkPid);
      if (t !== undefined) wrkTicks = t;
    }
  };
  const threads0 = threadTicks(pid);
  const machine0 = machineTicks();
  const t0 = performance.now();
  const timer = setInterval(sample, 200);
  let wrk: WrkResult;
  try {
    wrk = await runWrk(s.url, connections, SECONDS, (p) => (wrkPid = p));
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t0) / 1000;
  const threads1 = threadTicks(pid);
  const machine1 = machineTicks();
  sample();
  if (s.child.proc.exitCode !== null || s.child.proc.signalCode !== null) throw new Error(`${s.def.label} exited during the run\n${s.child.stderr().slice(-2000)}`);
  const threads: Array<{ tid: number; cpu: number }> = [];
  let total = 0;
  for (const [tid, ticks] of threads1) {
    const cpu = ((ticks - (threads0.get(tid) ?? 0)) / CLK_TCK / seconds) * 100;
    total += cpu;
    threads.push({ tid, cpu });
  }
  threads.sort((a, b) => a.tid - b.tid);
  return {
    round,
    wrk,
    seconds,
    serverCpu: total,
    threads,
    wrkCpu: (wrkTicks / CLK_TCK / seconds) * 100,
    machineBusy: ((machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total)) * 100,
    peakRssKiB: peakRss,
  };
}

async function loadPhase(running: Running[]): Promise<void> {
  const total = ROUNDS * CONNECTIONS.length * running.length;
  let done = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of CONNECTIONS) {
      // Rotate who goes first each round, so no server always follows the same neighbour.
      const order = running.map((_, i) => running[(i + round - 1) % running.length]!);
      for (const s of order) {
        done++;
        const warm = await runWrk(s.url, c, WARMUP);
        const m = await measure(s, c, round);
        const errors = m.wrk.non2xx + m.wrk.socketErrors + warm.non2xx + warm.socketErrors;
        if (errors > 0) {
          notes.push(
            `${s.def.label}, c${c}, round ${round}: ${warm.non2xx} non-2xx and ${warm.socketErrors} socket errors in the warm-up, ${m.wrk.non2xx} non-2xx and ${m.wrk.socketErrors} socket errors in the measurement.`,
          );
        }
        const list = s.measurements.get(c) ?? [];
        list.push(m);
        s.measurements.set(c, list);
        log(
          `[${done}/${total}] round ${round} c${c} ${s.def.label}: ${fmtInt(m.wrk.rps)} req/s, p50 ${fmtMs(m.wrk.p50)}, p99 ${fmtMs(m.wrk.p99)}, ` +
            `server CPU ${fmtPct(m.serverCpu)}, wrk ${fmtPct(m.wrkCpu)}, machine ${fmtPct(m.machineBusy)}${errors ? `, ${errors} errors` : ''}`,
        );
      }
    }
  }
  for (const s of running) s.peakHwmKiB = readMemory(s.child.pid)?.hwmKiB ?? NaN;
}

// ---------------------------------------------------------------------------------------------
// 2. Start-up

interface StartupResult {
  label: string;
  firstOk: number[];
  readyLine: number[];
}

async function startupOnce(def: ServerDef): Promise<{ firstOk: number; readyLine: number | undefined }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${HELLO_PATH}`;
  const t0 = performance.now();
  const child = track(def.start(port));
  try {
    const readyAt = def.readyLine ? child.waitForStderr(def.readyLine, 30_000) : undefined;
    readyAt?.catch(() => undefined);
    const ok = await pollUntil200(child, url, 30_000, 2);
    verifyHello(def.label, ok.result);
    for (const n of ok.non200) notes.push(`start-up run: ${def.label} answered \`${n.slice(0, 160)}\` before its first 200.`);
    const ready = readyAt ? await readyAt : undefined;
    return { firstOk: ok.at - t0, readyLine: ready === undefined ? undefined : ready - t0 };
  } finally {
    await stop(child);
  }
}

async function bareNodeStart(): Promise<number> {
  const t0 = performance.now();
  const child = track(startChild('node -e 0', process.execPath, ['-e', '0']));
  const { code } = await Promise.race([child.exited, sleep(30_000).then(() => ({ code: -1 }))]);
  const t = performance.now() - t0;
  await stop(child);
  if (code !== 0) throw new Error(`node -e 0 exited with ${code}`);
  return t;
}

async function startupPhase(): Promise<{ servers: StartupResult[]; bareNode: number[] }> {
  const results = new Map<ServerKey, StartupResult>(SERVERS.map((d) => [d.key, { label: d.label, firstOk: [], readyLine: [] }]));
  const bareNode: number[] = [];
  for (let i = 0; i < STARTUP_RUNS; i++) {
    for (const def of SERVERS) {
      const r = await startupOnce(def);
      const entry = results.get(def.key)!;
      entry.firstOk.push(r.firstOk);
      if (r.readyLine !== undefined) entry.readyLine.push(r.readyLine);
    }
    bareNode.push(await bareNodeStart());
    log(`start-up run ${i + 1}/${STARTUP_RUNS}: ${SERVERS.map((d) => `${d.label} ${fmtMs(results.get(d.key)!.firstOk.at(-1)!)}`).join(', ')}, node -e 0 ${fmtMs(bareNode.at(-1)!)}`);
  }
  return { servers: [...results.values()], bareNode };
}

// ---------------------------------------------------------------------------------------------
// 3. First request

interface FirstRequestResult {
  label: string;
  bytes: number;
  ready: number[];
  first: number[];
  second: number[];
  statuses: string[];
}

async function firstRequestPhase(prep: Prepared): Promise<FirstRequestResult[]> {
  const verge = SERVERS[0]!;
  const modules = [
    { label: `generated, ${prep.bigFunctions} functions`, manifest: prep.bigManifest, urlPath: '/big', body: BIG_BODY, bytes: prep.bigBytes },
    { label: 'examples/hello', manifest: HELLO_DIR, urlPath: HELLO_PATH, body: HELLO_BODY, bytes: prep.helloBytes },
  ];
  const out: FirstRequestResult[] = modules.map((m) => ({ label: m.label, bytes: m.bytes, ready: [], first: [], second: [], statuses: [] }));
  for (let i = 0; i < FIRST_RUNS; i++) {
    for (const [k, m] of modules.entries()) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}${m.urlPath}`;
      const t0 = performance.now();
      const child = track(verge.start(port, m.manifest));
      try {
        const readyAt = await child.waitForStderr(/^Serving /, 30_000);
        const a = performance.now();
        const r1 = await httpGet(url, 30_000);
        const b = performance.now();
        const r2 = await httpGet(url, 30_000);
        const c = performance.now();
        const res = out[k]!;
        res.ready.push(readyAt - t0);
        res.first.push(b - a);
        res.second.push(c - b);
        res.statuses.push(`${r1.status}/${r2.status}`);
        for (const [n, r] of [[1, r1], [2, r2]] as const) {
          if (r.status !== 200 || r.body !== m.body) {
            notes.push(`first-request run ${i + 1}, ${m.label}: request ${n} answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}.`);
          }
        }
      } finally {
        await stop(child);
      }
    }
    log(`first-request run ${i + 1}/${FIRST_RUNS}: ${out.map((r) => `${r.label}: ready ${fmtMs(r.ready.at(-1)!)}, 1st ${fmtMs(r.first.at(-1)!)}, 2nd ${fmtMs(r.second.at(-1)!)} (${r.statuses.at(-1)})`).join('; ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 4. Report

function command(): string {
  const knobs = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  return [...knobs, 'npm run bench'].join(' ');
}

function medianRound(s: Running, c: number): Measurement | undefined {
  const list = s.measurements.get(c);
  return list && list.length > 0 ? medianBy(list, (m) => m.wrk.rps) : undefined;
}

interface Results {
  running?: Running[];
  startup?: Awaited<ReturnType<typeof startupPhase>>;
  first?: FirstRequestResult[];
  caps?: CapResults;
  resize?: ResizeResults;
  components?: ComponentsResults;
  signing?: SigningResults;
  tracing?: TracingResults;
  chaining?: ChainingResults;
  seed002?: Seed002Results;
  clusterDeploys?: ClusterDeploysResults;
}

function render(m: Machine, prep: Prepared, res: Results): string {
  const out: string[] = [];
  out.push(`## ${m.date}`);
  out.push('');
  out.push(`- Machine: ${m.cores} cores, ${m.cpu}; ${m.kernel}; Node ${m.node}; ${m.workerd}; ${m.wrk}`);
  out.push(`- Command: \`${command()}\` (verge src at ${m.git})`);
  if (ONLY.size < PARTS.length) out.push(`- Partial run: only ${[...ONLY].join(', ')} (BENCH_ONLY).`);
  if (res.running) renderLoad(out, m, prep, res.running);
  else out.push('');
  if (res.startup) renderStartup(out, res.startup);
  if (res.first) renderFirst(out, res.first);
  if (res.running) renderThreads(out, res.running.find((r) => r.def.key === 'verge')!);
  if (res.caps) {
    out.push(renderCapabilities(res.caps));
  }
  if (res.resize) out.push(renderResize(res.resize, VERGE_WORKERS));
  if (res.components) out.push(renderComponents(res.components));
  if (res.signing) out.push(renderSigning(res.signing));
  if (res.tracing) out.push(renderTracing(res.tracing));
  if (res.chaining) out.push(renderChaining(res.chaining));
  if (res.seed002) out.push(renderSeed002(res.seed002));
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

function renderLoad(out: string[], m: Machine, prep: Prepared, running: Running[]): void {
  const byKey = (k: ServerKey) => running.find((r) => r.def.key === k)!;
  const verge = byKey('verge');
  const nodeHttp = byKey('node');
  const workerd = byKey('workerd');
  out.push(
    `- Load: ${ROUNDS} rounds × 3 servers × c${CONNECTIONS.join('/c')}, \`wrk -t1 -cN -d${SECONDS}s --latency\` after a ${WARMUP} s warm-up each; ` +
      `servers alternate, first server rotates per round; figures are the median round by RPS (range = all rounds).`,
  );
  out.push(
    `- Module: examples/hello/build/hello.wasm, ${fmtInt(prep.helloBytes)} bytes (sha256 ${prep.helloSha}…), the same bytes for Verge and workerd. ` +
      `Verge: \`verge up examples/hello --log-level warn${VERGE_WORKER_ARGS.map((a) => ' ' + a).join('')}\`, ${VERGE_WORKERS} workers + 1 spare. ` +
      `workerd: bench/peers/workerd.capnp + workerd-worker.js (fresh \`new WebAssembly.Instance\` per request, JS WASI shim, CGI parsing). ` +
      `node:http: bench/peers/node-http.ts, a constant body.`,
  );
  out.push('');

  const ratio = (a: Running, b: Running, c: number, f: (x: Measurement) => number) => {
    const x = medianRound(a, c);
    const y = medianRound(b, c);
    return x && y ? f(x) / f(y) : NaN;
  };
  const verdict = (v: number, target: number, atLeast: boolean) => (Number.isFinite(v) ? ((atLeast ? v >= target : v <= target) ? 'met' : '**not met**') : 'n/a');
  out.push('### Ratios');
  out.push('');
  const rRows: string[][] = [];
  const vw = ratio(verge, workerd, MAIN_C, (x) => x.wrk.rps);
  const vn = ratio(verge, nodeHttp, MAIN_C, (x) => x.wrk.rps);
  const vp = ratio(verge, workerd, MAIN_C, (x) => x.wrk.p99);
  rRows.push([`Verge / workerd RPS, c${MAIN_C}`, fmtRatio(vw), '≥ 2×', verdict(vw, 2, true)]);
  rRows.push([`Verge / node:http RPS, c${MAIN_C}`, fmtRatio(vn), '≥ 0.6×', verdict(vn, 0.6, true)]);
  rRows.push([`Verge p99 / workerd p99, c${MAIN_C}`, fmtRatio(vp), '≤ 0.5×', verdict(vp, 0.5, false)]);
  for (const c of CONNECTIONS.filter((x) => x !== MAIN_C)) {
    rRows.push([`Verge / workerd RPS, c${c}`, fmtRatio(ratio(verge, workerd, c, (x) => x.wrk.rps)), '', '']);
    rRows.push([`Verge / node:http RPS, c${c}`, fmtRatio(ratio(verge, nodeHttp, c, (x) => x.wrk.rps)), '', '']);
    rRows.push([`Verge p99 / workerd p99, c${c}`, fmtRatio(ratio(verge, workerd, c, (x) => x.wrk.p99)), '', '']);
  }
  out.push(table(['ratio', 'value', 'target', ''], rRows, ['l', 'r', 'l', 'l']));
  out.push('');

  out.push(`### Throughput and latency: GET ${HELLO_PATH}`);
  out.push('');
  const lRows: string[][] = [];
  for (const c of CONNECTIONS) {
    for (const s of running) {
      const list = s.measurements.get(c) ?? [];
      const mr = medianRound(s, c);
      if (!mr) continue;
      const rps = list.map((x) => x.wrk.rps);
      const errors = list.reduce((a, x) => a + x.wrk.non2xx + x.wrk.socketErrors, 0);
      lRows.push([
        `c${c}`,
        s.def.label,
        fmtInt(mr.wrk.rps),
        `${fmtInt(Math.min(...rps))}–${fmtInt(Math.max(...rps))}`,
        fmtMs(mr.wrk.p50),
        fmtMs(mr.wrk.p90),
        fmtMs(mr.wrk.p99),
        String(errors),
        fmtPct(mr.serverCpu),
        fmtPct(Math.max(0, ...mr.threads.map((t) => t.cpu))),
        fmtPct(mr.wrkCpu),
        fmtPct(mr.machineBusy),
      ]);
    }
  }
  out.push(
    table(
      ['conns', 'server', 'req/s', 'req/s range', 'p50', 'p90', 'p99', 'errors (all rounds)', 'server CPU', 'its busiest thread', 'wrk CPU', `machine busy (${m.cores} cores)`],
      lRows,
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push('CPU is % of one core over the measured run (server: all its threads, from /proc/PID/task/*/stat; wrk: sampled); machine busy is % of all cores.');
  out.push('');

  out.push('### Memory');
  out.push('');
  out.push(
    table(
      ['server', 'idle RSS (after start-up and a few requests)', 'peak RSS (VmHWM, whole load phase)', 'peak RSS sampled during runs'],
      running.map((s) => [
        s.def.label,
        fmtMiB(s.idleRssKiB),
        fmtMiB(s.peakHwmKiB),
        fmtMiB(Math.max(...[...s.measurements.values()].flat().map((x) => x.peakRssKiB))),
      ]),
      ['l', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push('VmRSS/VmHWM of the server process; for Verge that includes its worker threads (same process).');
  out.push('');
}

function renderStartup(out: string[], startup: Awaited<ReturnType<typeof startupPhase>>): void {
  out.push(`### Start-up: spawn → first 200 on GET ${HELLO_PATH} (${STARTUP_RUNS} runs, polled every 2 ms, NODE_EXTRA_CA_CERTS unset)`);
  out.push('');
  const sRows = startup.servers.map((r) => [
    r.label,
    fmtMs(median(r.firstOk)),
    `${fmtMs(Math.min(...r.firstOk))}–${fmtMs(Math.max(...r.firstOk))}`,
    r.readyLine.length ? fmtMs(median(r.readyLine)) : '—',
  ]);
  sRows.push(['`node -e 0` (process floor)', fmtMs(median(startup.bareNode)), `${fmtMs(Math.min(...startup.bareNode))}–${fmtMs(Math.max(...startup.bareNode))}`, '— (exit)']);
  out.push(table(['server', 'median', 'range', 'median to its "listening" line'], sRows, ['l', 'r', 'r', 'r']));
  out.push('');
}

function renderFirst(out: string[], first: FirstRequestResult[]): void {
  out.push(`### First request after \`verge up\` prints "Serving" (${FIRST_RUNS} runs, new connection per request)`);
  out.push('');
  out.push(
    table(
      ['module', 'size', 'spawn → Serving', 'first request', 'second request', 'statuses (1st/2nd)'],
      first.map((r) => [r.label, `${fmtInt(r.bytes)} bytes`, fmtMs(median(r.ready)), fmtMs(median(r.first)), fmtMs(median(r.second)), r.statuses.join(' ')]),
      ['l', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  out.push('');
}

function renderThreads(out: string[], verge: Running): void {
  const vm = medianRound(verge, MAIN_C);
  if (vm) {
    // Verge starts its pool last: the highest TIDs are the pool's workers, then the one spare.
    const poolSize = VERGE_WORKERS + 1;
    const byTid = [...vm.threads].sort((a, b) => a.tid - b.tid);
    const pool = byTid.slice(-poolSize);
    const main = byTid.find((t) => t.tid === verge.child.pid);
    const others = byTid.filter((t) => t !== main && !pool.includes(t));
    const rows: string[][] = [];
    if (main) rows.push([`main (${main.tid}): HTTP ingress, routing, dispatch`, fmtPct(main.cpu)]);
    pool.forEach((t, i) => rows.push([`${i < poolSize - 1 ? 'pool worker' : 'spare worker'} (${t.tid})`, fmtPct(t.cpu)]));
    rows.push([`${others.length} other threads (V8 platform: GC, compiler; libuv), together`, fmtPct(others.reduce((a, t) => a + t.cpu, 0))]);
    const busiest = others.reduce((a, t) => Math.max(a, t.cpu), 0);
    out.push(`### Verge threads, c${MAIN_C}, median round (${fmtInt(vm.wrk.rps)} req/s)`);
    out.push('');
    out.push(table(['thread', 'CPU (% of one core)'], rows, ['l', 'r']));
    out.push('');
    out.push(
      `From /proc/PID/task/*/stat over the measured run. Worker threads are identified as the last ${poolSize} threads created (Verge spawns its pool last); ` +
        `the busiest of the other threads used ${fmtPct(busiest)}.`,
    );
    out.push('');
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  installExitGuards();
  log(`parts: ${[...ONLY].join(', ')}`);
  // prepare() first: it installs workerd on first use, and machine() asks it for its version.
  const prep = await prepare();
  const m = machine();
  log(`${m.date}; ${m.cores} cores, ${m.cpu}; Node ${m.node}; ${m.workerd}`);
  log(`rounds ${ROUNDS} × c${CONNECTIONS.join('/c')} × ${SECONDS} s (warm-up ${WARMUP} s); start-up runs ${STARTUP_RUNS}; first-request runs ${FIRST_RUNS}`);
  const res: Results = {};

  if (runs('load')) {
    const running: Running[] = [];
    try {
      for (const def of SERVERS) running.push(await startForLoad(def));
      await loadPhase(running);
    } finally {
      await Promise.all(running.map((r) => stop(r.child)));
    }
    res.running = running;
  }
  if (runs('startup')) res.startup = await startupPhase();
  if (runs('first')) res.first = await firstRequestPhase(prep);
  if (runs('kv') || runs('outbound')) {
    res.caps = await capabilityPhases(
      {
        root: ROOT,
        work: WORK,
        vergeBin: VERGE_BIN,
        nodePeer: NODE_PEER,
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

  if (runs('resize')) {
    res.resize = await resizePhase({ root: ROOT, work: WORK, vergeBin: VERGE_BIN, vergeWorkerArgs: VERGE_WORKER_ARGS, vergeWorkers: VERGE_WORKERS, log, notes, track });
  }

  if (runs('components')) {
    res.components = await componentsPhase({ root: ROOT, work: WORK, vergeBin: VERGE_BIN, vergeWorkerArgs: VERGE_WORKER_ARGS, vergeWorkers: VERGE_WORKERS, log, notes, track });
  }

  if (runs('signing')) res.signing = await signingPhase({ work: WORK, log });

  if (runs('tracing')) {
    res.tracing = await tracingPhase({ root: ROOT, work: WORK, vergeBin: VERGE_BIN, vergeWorkerArgs: VERGE_WORKER_ARGS, vergeWorkers: VERGE_WORKERS, log, notes, track });
  }

  if (runs('chaining')) res.chaining = await chainingPhase({ root: ROOT, work: WORK, vergeBin: VERGE_BIN, nodePeer: NODE_PEER, log, notes, track });

  if (runs('seed002')) {
    res.seed002 = await seed002Phase({ root: ROOT, work: WORK, vergeBin: VERGE_BIN, vergeWorkerArgs: VERGE_WORKER_ARGS, vergeWorkers: VERGE_WORKERS, log, notes, track });
  }

  if (runs('cluster-deploys')) res.clusterDeploys = await clusterDeploysPhase({ log });

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
