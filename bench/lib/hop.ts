/**
 * The request hop (issue 17), measured on its own: hello at c50 (and c1) on one or more Verge
 * trees and on the node:http peer, in alternating rounds, with what the load part does not show —
 * the main thread's and the whole process's CPU per request, and the context switches per request
 * (every thread's, and the main thread's). A switch is a thread going to sleep or being preempted:
 * on this 2-core VM a post to a sleeping worker costs the main thread far more than copying the
 * request, and the switch count does not drift with the machine's load as req/s does.
 *
 *   node dist/bench/lib/hop.js [VERGE_ROOT ...]   (default: this tree; e.g. a checkout of the
 *   commit before a change and this one, to compare them in the same run)
 *
 * Knobs: HOP_SECONDS (8), HOP_WARMUP_SECONDS (2), HOP_ROUNDS (3), HOP_CONNECTIONS ("50,1").
 * Servers listen on 127.0.0.1 and are stopped by PID. Prints a markdown section to stdout.
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { childEnv, freePort, installExitGuards, intEnv, pollUntil200, startChild, stopChild, threadSwitches, threadTicks, type Child } from './proc.js';
import { runWrk, type WrkResult } from './wrk.js';
import { fmtInt, fmtMs, fmtRatio, median, table } from './report.js';

const HERE = fileURLToPath(new URL('../../../', import.meta.url));
const SECONDS = intEnv('HOP_SECONDS', 8);
const WARMUP = intEnv('HOP_WARMUP_SECONDS', 2);
const ROUNDS = intEnv('HOP_ROUNDS', 3);
const CONNECTIONS = (process.env.HOP_CONNECTIONS ?? '50,1').split(',').map(Number);
const HELLO = '/api/hello';
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Server {
  label: string;
  start(port: number): Child;
}

interface Sample {
  wrk: WrkResult;
  /** µs of CPU per request: the main thread, the whole process. */
  mainCpuUs: number;
  processCpuUs: number;
  /** Context switches (voluntary and not) per request: every thread's, the main thread's. */
  switches: number;
  mainSwitches: number;
  /** The 1-minute load average when the round ended. */
  load: number;
}

/** Per thread: CPU ticks (utime + stime) and context switches. */
function threadCounters(pid: number): Map<number, { ticks: number; switches: number }> {
  const switches = threadSwitches(pid);
  const out = new Map<number, { ticks: number; switches: number }>();
  for (const [tid, ticks] of threadTicks(pid)) out.set(tid, { ticks, switches: switches.get(tid) ?? 0 });
  return out;
}

function delta(pid: number, before: ReturnType<typeof threadCounters>, after: ReturnType<typeof threadCounters>) {
  let ticks = 0;
  let switches = 0;
  for (const [tid, a] of after) {
    const b = before.get(tid) ?? { ticks: 0, switches: 0 };
    ticks += a.ticks - b.ticks;
    switches += a.switches - b.switches;
  }
  const m = after.get(pid);
  const mb = before.get(pid);
  return { ticks, switches, mainTicks: m && mb ? m.ticks - mb.ticks : NaN, mainSwitches: m && mb ? m.switches - mb.switches : NaN };
}

async function measure(server: Server, connections: number): Promise<Sample> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${HELLO}`;
  const child = server.start(port);
  try {
    await pollUntil200(child, url, 30_000, 10);
    await runWrk(url, connections, WARMUP);
    const before = threadCounters(child.pid);
    const wrk = await runWrk(url, connections, SECONDS);
    const d = delta(child.pid, before, threadCounters(child.pid));
    const n = Math.max(1, wrk.requests);
    const us = (ticks: number) => ((ticks / CLK_TCK) * 1e6) / n;
    return { wrk, mainCpuUs: us(d.mainTicks), processCpuUs: us(d.ticks), switches: d.switches / n, mainSwitches: d.mainSwitches / n, load: os.loadavg()[0]! };
  } finally {
    await stopChild(child);
  }
}

function vergeServer(root: string, index: number): Server {
  let commit = '?';
  try {
    commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // not a checkout (an exported tree): named by its path alone
  }
  return {
    label: `Verge ${index + 1} (${path.basename(root)} @ ${commit})`,
    start: (port) =>
      startChild('verge', process.execPath, [path.join(root, 'bin', 'verge.js'), 'up', path.join(root, 'examples', 'hello'), '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'], { cwd: root, env: childEnv() }),
  };
}

async function main(): Promise<void> {
  installExitGuards();
  const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => path.resolve(r)) : [HERE];
  const servers: Server[] = [
    ...roots.map(vergeServer),
    { label: 'node:http', start: (port) => startChild('node:http', process.execPath, [path.join(HERE, 'dist', 'bench', 'peers', 'node-http.js'), `127.0.0.1:${port}`], { env: childEnv() }) },
  ];
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of CONNECTIONS) {
      // Rotate who goes first, so no server always follows the same neighbour.
      const order = servers.map((_, i) => servers[(i + round - 1) % servers.length]!);
      for (const s of order) {
        const m = await measure(s, c);
        const key = `${c}\u0000${s.label}`;
        samples.set(key, [...(samples.get(key) ?? []), m]);
        process.stderr.write(
          `[hop] round ${round} c${c} ${s.label}: ${fmtInt(m.wrk.rps)} req/s, p50 ${fmtMs(m.wrk.p50)}, main ${m.mainCpuUs.toFixed(0)} µs/req, process ${m.processCpuUs.toFixed(0)} µs/req, ` +
            `${m.switches.toFixed(2)} switches/req (main ${m.mainSwitches.toFixed(2)}), load ${m.load.toFixed(1)}\n`,
        );
      }
    }
  }
  const rows: string[][] = [];
  for (const c of CONNECTIONS) {
    const peer = samples.get(`${c}\u0000node:http`) ?? [];
    for (const s of servers) {
      const list = samples.get(`${c}\u0000${s.label}`) ?? [];
      const med = (f: (x: Sample) => number) => median(list.map(f));
      const perRound = list.map((x, i) => fmtRatio(x.wrk.rps / (peer[i]?.wrk.rps ?? NaN))).join(', ');
      rows.push([
        `c${c}`,
        s.label,
        fmtInt(med((x) => x.wrk.rps)),
        `${fmtInt(Math.min(...list.map((x) => x.wrk.rps)))}–${fmtInt(Math.max(...list.map((x) => x.wrk.rps)))}`,
        s.label === 'node:http' ? '—' : perRound,
        fmtMs(med((x) => x.wrk.p50)),
        fmtMs(med((x) => x.wrk.p99)),
        med((x) => x.mainCpuUs).toFixed(0),
        med((x) => x.processCpuUs).toFixed(0),
        med((x) => x.switches).toFixed(2),
        med((x) => x.mainSwitches).toFixed(2),
        `${Math.min(...list.map((x) => x.load)).toFixed(1)}–${Math.max(...list.map((x) => x.load)).toFixed(1)}`,
      ]);
    }
  }
  process.stdout.write(
    `${ROUNDS} rounds × c${CONNECTIONS.join('/c')}, \`wrk -t1 -cN -d${SECONDS}s --latency\` after a ${WARMUP} s warm-up, a fresh server per measurement, servers alternating; medians over rounds.\n\n` +
      table(
        ['conns', 'server', 'req/s', 'range', 'req/s ÷ node:http, per round', 'p50', 'p99', 'main CPU µs/req', 'process CPU µs/req', 'switches/req', 'main switches/req', 'load average'],
        rows,
        ['l', 'l', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ) +
      '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`hop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
