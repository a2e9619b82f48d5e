/**
 * The `tracing` part: the hello load (examples/hello, `GET /api/hello`) under four Verge nodes, each
 * with the admin listener, that differ only in their OpenTelemetry variables: tracing off
 * (`OTEL_SDK_DISABLED=true`: with --admin and no endpoint a node records traces for its dashboard),
 * recording for the dashboard only (no variable), exporting every request, and exporting 1 %
 * (`OTEL_TRACES_SAMPLER=traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.01`). The exporting nodes send
 * OTLP/HTTP protobuf to a local sink in the harness process that reads each export and answers 200
 * (a collector that keeps up); the sink counts what it got, and each node's /metrics says how many
 * spans it dropped. Beside req/s, each run records the node's CPU per request on its main thread and
 * on its other threads: on a shared machine that moves far less than throughput.
 *
 * Rounds alternate like the load part: per round and connection count each node gets a warm-up,
 * then a measured `wrk -t1 -cN --latency` run; the first node rotates per round; the figures are
 * the median round by req/s.
 *
 * Knobs: BENCH_TRACING_SECONDS (10), BENCH_TRACING_ROUNDS (3), BENCH_TRACING_WARMUP (3 s),
 * BENCH_TRACING_CONNECTIONS ("50,1"). About 5 minutes with the defaults (4 nodes × 2 × 3 × 13 s).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { childEnv, freePort, intEnv, pollUntil200, sleep, startChild, stopChild, threadCpuNs, type Child } from './proc.js';
import { runWrk, type WrkResult } from './wrk.js';
import { fmtInt, fmtMs, fmtPct, medianBy, table } from './report.js';
import type { ResizeConfig } from './resize.js';

export type TracingConfig = ResizeConfig;

type Key = 'off' | 'dashboard' | 'all' | 'one-percent';

interface Node {
  key: Key;
  label: string;
  /** The OTEL_* variables it runs with, as they appear in the report. */
  env: Record<string, string>;
  child: Child;
  url: string;
  adminUrl: string;
  rounds: Map<number, Measured[]>;
  droppedSpans: number;
}

/** A wrk run and the node's CPU per request in it: on its main thread (every request crosses it) and on all its others. */
type Measured = WrkResult & { mainUs: number; otherUs: number };

export interface TracingResults {
  seconds: number;
  warmup: number;
  rounds: number;
  connections: number[];
  vergeWorkers: number;
  nodes: Array<Omit<Node, 'child'>>;
  sink: { posts: number; bytes: number };
}

const HELLO_PATH = '/api/hello';

/** A collector that keeps up: reads each export whole and answers 200 with an empty protobuf response. */
async function startSink(): Promise<{ url: string; stats: { posts: number; bytes: number }; close: () => Promise<void> }> {
  const stats = { posts: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.posts++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function droppedSpans(adminUrl: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(/^verge_trace_spans_dropped_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
  return total;
}

export async function tracingPhase(cfg: TracingConfig): Promise<TracingResults> {
  const seconds = intEnv('BENCH_TRACING_SECONDS', 10);
  const rounds = intEnv('BENCH_TRACING_ROUNDS', 3);
  const warmup = intEnv('BENCH_TRACING_WARMUP', 3);
  const connections = (process.env.BENCH_TRACING_CONNECTIONS ?? '50,1').split(',').map((s) => Number(s.trim()));
  const sink = await startSink();
  const variants: Array<{ key: Key; label: string; env: Record<string, string> }> = [
    { key: 'off', label: 'tracing off', env: { OTEL_SDK_DISABLED: 'true' } },
    { key: 'dashboard', label: 'recorded for the dashboard, 100 %', env: {} },
    { key: 'all', label: 'tracing on, 100 %', env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } },
    { key: 'one-percent', label: 'tracing on, 1 %', env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.01' } },
  ];
  const nodes: Node[] = [];
  try {
    for (const v of variants) {
      const port = await freePort();
      const adminPort = await freePort();
      const child = cfg.track(
        startChild(
          `verge (${v.label})`,
          process.execPath,
          [cfg.vergeBin, 'up', path.join(cfg.root, 'examples', 'hello'), '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${adminPort}`, '--log-level', 'warn', ...cfg.vergeWorkerArgs],
          { cwd: cfg.root, env: childEnv(v.env) },
        ),
      );
      const url = `http://127.0.0.1:${port}${HELLO_PATH}`;
      await pollUntil200(child, url, 30_000, 10);
      nodes.push({ ...v, child, url, adminUrl: `http://127.0.0.1:${adminPort}`, rounds: new Map(), droppedSpans: 0 });
      cfg.log(`tracing: ${v.label} on ${url}`);
    }
    await sleep(1000);
    for (let round = 1; round <= rounds; round++) {
      for (const c of connections) {
        const order = nodes.map((_, i) => nodes[(i + round - 1) % nodes.length]!);
        for (const n of order) {
          await runWrk(n.url, c, warmup);
          const before = threadCpuNs(n.child.pid);
          const wrk = await runWrk(n.url, c, seconds);
          const r = { ...wrk, ...cpuPerRequest(n.child.pid, before, threadCpuNs(n.child.pid), wrk.requests) };
          const list = n.rounds.get(c) ?? [];
          list.push(r);
          n.rounds.set(c, list);
          if (r.non2xx + r.socketErrors > 0) cfg.notes.push(`tracing, ${n.label}, c${c}, round ${round}: ${r.non2xx} non-2xx and ${r.socketErrors} socket errors.`);
          cfg.log(`tracing round ${round} c${c} ${n.label}: ${fmtInt(r.rps)} req/s, p50 ${fmtMs(r.p50)}, p99 ${fmtMs(r.p99)}, CPU/request ${fmtUs(r.mainUs)} main + ${fmtUs(r.otherUs)} other threads`);
        }
      }
    }
    // Give the last batches their schedule delay (5 s by default) before reading the drop counters.
    await sleep(6000);
    for (const n of nodes) n.droppedSpans = await droppedSpans(n.adminUrl);
  } finally {
    await Promise.all(nodes.map((n) => stopChild(n.child)));
    await sink.close();
  }
  return {
    seconds,
    warmup,
    rounds,
    connections,
    vergeWorkers: cfg.vergeWorkers,
    nodes: nodes.map(({ child: _child, ...rest }) => rest),
    sink: { ...sink.stats },
  };
}

function cpuPerRequest(pid: number, before: Map<number, number>, after: Map<number, number>, requests: number): { mainUs: number; otherUs: number } {
  let main = 0;
  let other = 0;
  for (const [tid, ns] of after) {
    const d = ns - (before.get(tid) ?? 0);
    if (tid === pid) main += d;
    else other += d;
  }
  return { mainUs: main / 1000 / Math.max(1, requests), otherUs: other / 1000 / Math.max(1, requests) };
}

const fmtUs = (us: number) => `${us.toFixed(0)} µs`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

export function renderTracing(r: TracingResults): string {
  const out: string[] = [];
  out.push('### Tracing: the hello load with tracing off, recorded for the dashboard, exported at 100 % and at 1 %');
  out.push('');
  out.push(
    `- ${r.nodes.length} nodes, \`verge up examples/hello --admin … --log-level warn\`, at most ${r.vergeWorkers} workers (elastic, 1 kept idle) each, differing only in their variables: ` +
      r.nodes.map((n) => `${n.label}: ${Object.keys(n.env).length ? Object.entries(n.env).map(([k, v]) => `\`${k}=${k.endsWith('ENDPOINT') ? '<sink>' : v}\``).join(' ') : 'no OTEL_* variable'}`).join('; ') +
      '. The sink is a node:http server in the harness process that reads each OTLP/HTTP protobuf export and answers 200.',
  );
  out.push(
    `- \`wrk -t1 -cN -d${r.seconds}s --latency\` after a ${r.warmup} s warm-up, ${r.rounds} rounds per connection count, the nodes alternating (first rotated per round); the median round by req/s. ` +
      `The sink got ${fmtInt(r.sink.posts)} exports, ${fmtInt(r.sink.bytes)} bytes in all. This part alone: \`BENCH_ONLY=tracing npm run bench\`.`,
  );
  out.push('');
  const rows: string[][] = [];
  for (const c of r.connections) {
    const med = (n: (typeof r.nodes)[number]) => {
      const list = n.rounds.get(c) ?? [];
      return list.length ? medianBy(list, (x) => x.rps) : undefined;
    };
    const off = med(r.nodes.find((n) => n.key === 'off')!);
    for (const n of r.nodes) {
      const m = med(n);
      if (!m) continue;
      const list = n.rounds.get(c) ?? [];
      const rps = list.map((x) => x.rps);
      const cost = off && n.key !== 'off' ? fmtPct((1 - m.rps / off.rps) * 100) : '—';
      const mainUs = median(list.map((x) => x.mainUs));
      const otherUs = median(list.map((x) => x.otherUs));
      rows.push([`c${c}`, n.label, fmtInt(m.rps), `${fmtInt(Math.min(...rps))}–${fmtInt(Math.max(...rps))}`, cost, fmtMs(m.p50), fmtMs(m.p99), fmtUs(mainUs), fmtUs(otherUs), fmtInt(n.droppedSpans)]);
    }
  }
  out.push(table(['conns', 'node', 'req/s', 'req/s range', 'throughput cost vs off', 'p50', 'p99', 'CPU/req main thread', 'CPU/req other threads', 'spans dropped'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push('');
  return out.join('\n');
}
