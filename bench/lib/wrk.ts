/** Runs `wrk --latency` (one thread: the machine has two cores) and parses its report. */
import { execFile } from 'node:child_process';
import { childEnv, track } from './proc.js';

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p75: number;
  p90: number;
  p99: number;
  non2xx: number;
  socketErrors: number;
  raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function latencyMs(text: string, pct: string): number {
  const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
  if (!m) throw new Error(`wrk output has no ${pct}% latency line:\n${text}`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function parseWrk(text: string): WrkResult {
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  const requests = /^\s*(\d+) requests in /m.exec(text);
  if (!rps || !requests) throw new Error(`cannot parse wrk output:\n${text}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    rps: Number(rps[1]),
    requests: Number(requests[1]),
    p50: latencyMs(text, '50'),
    p75: latencyMs(text, '75'),
    p90: latencyMs(text, '90'),
    p99: latencyMs(text, '99'),
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1, 5).reduce((a, b) => a + Number(b), 0) : 0,
    raw: text,
  };
}

/** `script`: a wrk Lua file (e.g. one that varies the path per request). */
export function wrkArgs(url: string, connections: number, seconds: number, script?: string): string[] {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`load only goes to 127.0.0.1, not ${url}`);
  return ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '--latency', ...(script ? ['-s', script] : []), url];
}

/** Starts wrk; `onStart` gets its PID (to sample its CPU). Bounded by a hard timeout. */
export function runWrk(url: string, connections: number, seconds: number, onStart?: (pid: number) => void, script?: string): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', wrkArgs(url, connections, seconds, script), { env: childEnv(), timeout: (seconds + 30) * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`wrk failed: ${err.message}\n${stdout}\n${stderr}`));
        return;
      }
      try {
        resolve(parseWrk(stdout));
      } catch (e) {
        reject(e);
      }
    });
    track(child);
    if (child.pid !== undefined) onStart?.(child.pid);
  });
}
