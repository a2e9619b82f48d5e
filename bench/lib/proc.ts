/**
 * Child processes for the benchmark: spawn servers, stop them by PID (SIGTERM, then SIGKILL),
 * and make sure none outlives the harness; free ports on 127.0.0.1; /proc sampling (RSS, per-thread
 * CPU); a small HTTP GET for readiness polls and checks.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** Clock ticks per second, the unit of /proc CPU times. */
export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Every child started through `startChild` that has not exited yet. */
const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** Registers a child started elsewhere (wrk) so the exit guard kills it too. */
export function track(proc: ChildProcess): void {
  if (proc.pid === undefined) return;
  live.add(proc);
  const forget = () => live.delete(proc);
  proc.once('exit', forget);
  proc.once('error', forget);
}

let guardsInstalled = false;
/** On exit (normal, error, or a signal to the harness) no server the harness started survives. */
export function installExitGuards(): void {
  if (guardsInstalled) return;
  guardsInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, stopping children\n`);
      killAllNow();
      process.exit(130);
    });
  }
}

/** The environment for children: the harness's own, minus NODE_EXTRA_CA_CERTS (~85 ms per Node start here). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** The last 64 KiB of stderr, for error messages. */
  stderr(): string;
  /** Resolves when a stderr line matches, with the time (performance.now()) it arrived. */
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const STDERR_KEEP = 64 * 1024;

export function startChild(name: string, command: string, args: string[], options: SpawnOptions = {}): Child {
  const proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: childEnv(), ...options });
  if (proc.pid === undefined) throw new Error(`${name}: could not spawn ${command}`);
  live.add(proc);
  let err = '';
  const watchers: Array<{ pattern: RegExp; resolve: (t: number) => void }> = [];
  let pending = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (chunk: string) => {
    const now = performance.now();
    err = (err + chunk).slice(-STDERR_KEEP);
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    if (pending.length > STDERR_KEEP) pending = pending.slice(-STDERR_KEEP);
    for (const line of lines) {
      for (let i = watchers.length - 1; i >= 0; i--) {
        const w = watchers[i]!;
        if (w.pattern.test(line)) {
          watchers.splice(i, 1);
          w.resolve(now);
        }
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
    proc.once('error', () => {
      live.delete(proc);
      resolve({ code: null, signal: null });
    });
  });
  const child: Child = {
    name,
    proc,
    pid: proc.pid,
    stderr: () => err,
    exited,
    waitForStderr(pattern, timeoutMs) {
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no stderr line matching ${pattern} within ${timeoutMs} ms\n${err.slice(-2000)}`)), timeoutMs);
        const done = (t: number) => {
          clearTimeout(timer);
          resolve(t);
        };
        watchers.push({ pattern, resolve: done });
        exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before printing ${pattern}\n${err.slice(-2000)}`));
        });
      });
    },
  };
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited (bounded). */
export async function stopChild(child: Child, graceMs = 5000): Promise<void> {
  const { proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = child.exited.then(() => true);
  const within = (ms: number) => Promise.race([gone, sleep(ms).then(() => false)]);
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch {
    return;
  }
  if (await within(graceMs)) return;
  try {
    process.kill(child.pid, 'SIGKILL');
  } catch {
    return;
  }
  await within(5000);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))));
    });
  });
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET on a fresh connection. Rejects on connection errors and after `timeoutMs`. */
export function httpGet(url: string, timeoutMs = 5000): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/**
 * Polls `url` until it answers 200 (connection refused and non-200 answers are retried); resolves
 * with the time of the 200. Gives up after `timeoutMs` or when the child exits.
 */
export async function pollUntil200(
  child: Child,
  url: string,
  timeoutMs = 20_000,
  intervalMs = 2,
): Promise<{ at: number; result: HttpResult; attempts: number; non200: string[] }> {
  const deadline = performance.now() + timeoutMs;
  let attempts = 0;
  let last = '';
  const non200: string[] = [];
  while (performance.now() < deadline) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      throw new Error(`${child.name} exited before answering ${url}\n${child.stderr().slice(-2000)}`);
    }
    attempts++;
    try {
      const result = await httpGet(url, Math.max(1, Math.min(5000, deadline - performance.now())));
      if (result.status === 200) return { at: performance.now(), result, attempts, non200 };
      last = `status ${result.status}: ${result.body.slice(0, 200)}`;
      if (non200.length < 10) non200.push(last);
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(intervalMs);
  }
  throw new Error(`${child.name}: ${url} did not answer 200 within ${timeoutMs} ms (last: ${last})\n${child.stderr().slice(-2000)}`);
}

/** VmRSS and VmHWM of a process, in KiB (VmRSS covers every thread of the process). */
export function readMemory(pid: number): { rssKiB: number; hwmKiB: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (!rss || !hwm) return undefined;
    return { rssKiB: Number(rss[1]), hwmKiB: Number(hwm[1]) };
  } catch {
    return undefined;
  }
}

/** utime+stime in clock ticks from a /proc stat line (the name field may hold spaces). */
function statTicks(line: string): number {
  const rest = line.slice(line.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(rest[11]) + Number(rest[12]);
}

export function processTicks(pid: number): number | undefined {
  try {
    return statTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU ticks of each thread of a process, by TID. */
export function threadTicks(pid: number): Map<number, number> {
  return perThread(pid, 'stat', statTicks);
}

/** CPU time of each thread of a process in ns (schedstat's first field), by TID. */
export function threadCpuNs(pid: number): Map<number, number> {
  return perThread(pid, 'schedstat', (text) => Number(text.split(' ')[0]));
}

/** Context switches (voluntary and not) of each thread of a process, by TID. */
export function threadSwitches(pid: number): Map<number, number> {
  const count = (status: string, name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return perThread(pid, 'status', (text) => count(text, 'voluntary_ctxt_switches') + count(text, 'nonvoluntary_ctxt_switches'));
}

/** `parse` of /proc/PID/task/TID/FILE for each thread of a process, by TID. */
function perThread(pid: number, file: string, parse: (text: string) => number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      out.set(Number(tid), parse(readFileSync(`/proc/${pid}/task/${tid}/${file}`, 'utf8')));
    } catch {
      // the thread ended between readdir and read
    }
  }
  return out;
}

/** Aggregate busy and total jiffies from /proc/stat's first line. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** A bench knob from the environment: an integer ≥ `min`, or `fallback` when unset. */
export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}
