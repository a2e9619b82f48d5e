/**
 * Starts the real `verge` CLI on a free loopback port and stops it by PID. End-to-end tests go
 * through this, never through an in-process server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const VERGE_BIN = fileURLToPath(new URL('../../../bin/verge.js', import.meta.url));

export interface VergeProcess {
  proc: ChildProcess;
  pid: number;
  url: string;
  adminUrl: string | undefined;
  /** JSON log records printed so far. */
  logs(): Array<Record<string, unknown>>;
  stderr(): string;
  /** Everything printed on stdout so far, raw. */
  stdout(): string;
  /** SIGTERM, wait for exit (SIGKILL after `ms`); resolves with the exit code. */
  stop(ms?: number): Promise<number | null>;
}

export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  // Adds ~85 ms to every Node start in these sandboxes and is not needed for loopback tests
  // (unless a test trusts its own CA with it: rediss to a test Redis).
  if (extra.NODE_EXTRA_CA_CERTS === undefined) delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

export function runVerge(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [VERGE_BIN, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `verge up`; a process still alive after `ms` is killed and reported as such. */
export async function upWithin(args: string[], ms: number): Promise<{ code: number | null; stderr: string; killed: boolean; elapsedMs: number }> {
  const started = Date.now();
  const proc = spawn(process.execPath, [VERGE_BIN, 'up', ...args], { cwd: REPO_ROOT, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    proc.kill('SIGKILL');
  }, ms);
  const [code] = (await once(proc, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stderr, killed, elapsedMs: Date.now() - started };
}

export async function startVerge(
  manifest: string,
  extraArgs: string[] = [],
  opts: { admin?: boolean; readyMs?: number; env?: Record<string, string>; /** Default: the repository. */ cwd?: string } = {},
): Promise<VergeProcess> {
  // An empty manifest: a node that serves only what is deployed to it.
  const args = [VERGE_BIN, 'up', ...(manifest ? [manifest] : []), '--listen', '127.0.0.1:0', ...extraArgs];
  if (opts.admin) args.push('--admin', '127.0.0.1:0');
  const proc = spawn(process.execPath, args, { cwd: opts.cwd ?? REPO_ROOT, env: childEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let rawOut = '';
  let err = '';
  const records: Array<Record<string, unknown>> = [];
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    rawOut += d;
    out += d;
    let nl: number;
    while ((nl = out.indexOf('\n')) !== -1) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      try {
        records.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        records.push({ unparsed: line });
      }
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));

  const stop = async (ms = 15_000): Promise<number | null> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(timer);
    return proc.exitCode;
  };

  const deadline = Date.now() + (opts.readyMs ?? 20_000);
  // With --admin, the metrics line is written after the routes: wait for it too.
  const ready = opts.admin || extraArgs.includes('--admin') ? /metrics: https?:\/\/\S+\/metrics/ : /Serving .* on (https?:\/\/\S+)/;
  while (!ready.test(err)) {
    if (proc.exitCode !== null) throw new Error(`verge up exited with ${proc.exitCode}:\n${err}`);
    if (Date.now() > deadline) {
      await stop(1000);
      throw new Error(`verge up did not become ready:\n${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = /Serving .* on (https?:\/\/\S+)/.exec(err)![1]!;
  const adminUrl = /metrics: (https?:\/\/\S+)\/metrics/.exec(err)?.[1];
  return { proc, pid: proc.pid!, url, adminUrl, logs: () => records, stderr: () => err, stdout: () => rawOut, stop };
}

/** Resident set size of a process in bytes (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb * 1024;
}

/** `verge build APP` (failing with its output if the build fails), then `verge up APP`. */
export async function buildAndServe(
  app: string,
  extraArgs: string[] = [],
  opts: Parameters<typeof startVerge>[2] = {},
): Promise<VergeProcess> {
  const build = await runVerge(['build', app]);
  if (build.code !== 0) throw new Error(`verge build ${app} exited with ${build.code}:\n${build.stdout}\n${build.stderr}`);
  return startVerge(app, extraArgs, opts);
}
