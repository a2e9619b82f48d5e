/**
 * Start-up: spawn → first 200 on GET /api/hello for each server, polled every 2 ms, median of
 * several runs (children run without NODE_EXTRA_CA_CERTS), beside a bare `node -e 0` as the floor.
 * Verge runs with its code cache (src/code-cache.ts) in a folder of this run's own, made by one
 * start beforehand that lives a few seconds (as a user's first `verge up` does), and again with
 * the cache off (`VERGE_CODE_CACHE=0`), to show what it buys.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, pollUntil200, sleep, startChild } from './proc.js';
import { fmtMs, median, table } from './report.js';
import { HELLO_PATH, verifyHello, type HarnessContext, type ServerDef } from './servers.js';

interface StartupResult {
  label: string;
  firstOk: number[];
  readyLine: number[];
}

export interface StartupResults {
  runs: number;
  servers: StartupResult[];
  bareNode: number[];
  /** The code cache files the priming start made (name and size). */
  codeCache: string[];
}

/** How long the start that makes Verge's code cache lives after its first 200 (its cache is made again 1 s after loading). */
const PRIME_MS = 2500;

/** Verge with its code cache in `cacheDir`, or with the cache off. */
function vergeVariant(def: ServerDef, cacheDir: string, cache: boolean): ServerDef {
  const env: Record<string, string> = cache ? { VERGE_CACHE_DIR: cacheDir } : { VERGE_CACHE_DIR: cacheDir, VERGE_CODE_CACHE: '0' };
  return { ...def, label: cache ? def.label : `${def.label}, code cache off`, start: (port, manifest) => def.start(port, manifest, env) };
}

async function startupOnce(h: HarnessContext, def: ServerDef): Promise<{ firstOk: number; readyLine: number | undefined }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}${HELLO_PATH}`;
  const t0 = performance.now();
  const child = h.track(def.start(port));
  try {
    const readyAt = def.readyLine ? child.waitForStderr(def.readyLine, 30_000) : undefined;
    readyAt?.catch(() => undefined);
    const ok = await pollUntil200(child, url, 30_000, 2);
    verifyHello(def.label, ok.result);
    for (const n of ok.non200) h.notes.push(`start-up run: ${def.label} answered \`${n.slice(0, 160)}\` before its first 200.`);
    const ready = readyAt ? await readyAt : undefined;
    return { firstOk: ok.at - t0, readyLine: ready === undefined ? undefined : ready - t0 };
  } finally {
    await h.stop(child);
  }
}

async function bareNodeStart(h: HarnessContext): Promise<number> {
  const t0 = performance.now();
  const child = h.track(startChild('node -e 0', process.execPath, ['-e', '0']));
  const { code } = await Promise.race([child.exited, sleep(30_000).then(() => ({ code: -1 }))]);
  const t = performance.now() - t0;
  await h.stop(child);
  if (code !== 0) throw new Error(`node -e 0 exited with ${code}`);
  return t;
}

async function primeCodeCache(h: HarnessContext, verge: ServerDef): Promise<void> {
  const port = await freePort();
  const child = h.track(verge.start(port));
  try {
    await pollUntil200(child, `http://127.0.0.1:${port}${HELLO_PATH}`, 30_000, 2);
    await sleep(PRIME_MS);
  } finally {
    await h.stop(child);
  }
}

export async function startupPhase(h: HarnessContext, servers: ServerDef[], runs: number): Promise<StartupResults> {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'verge-bench-code-cache-'));
  try {
    const defs = servers.flatMap((d) => (d.key === 'verge' ? [vergeVariant(d, cacheDir, true), vergeVariant(d, cacheDir, false)] : [d]));
    await primeCodeCache(h, defs.find((d) => d.key === 'verge')!);
    const codeCache = readdirSync(path.join(cacheDir, 'code-cache'));
    const results = new Map<string, StartupResult>(defs.map((d) => [d.label, { label: d.label, firstOk: [], readyLine: [] }]));
    const bareNode: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const def of defs) {
        const r = await startupOnce(h, def);
        const entry = results.get(def.label)!;
        entry.firstOk.push(r.firstOk);
        if (r.readyLine !== undefined) entry.readyLine.push(r.readyLine);
      }
      bareNode.push(await bareNodeStart(h));
      h.log(`start-up run ${i + 1}/${runs}: ${defs.map((d) => `${d.label} ${fmtMs(results.get(d.label)!.firstOk.at(-1)!)}`).join(', ')}, node -e 0 ${fmtMs(bareNode.at(-1)!)}`);
    }
    return { runs, servers: [...results.values()], bareNode, codeCache };
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

export function renderStartup(out: string[], startup: StartupResults): void {
  out.push(`### Start-up: spawn → first 200 on GET ${HELLO_PATH} (${startup.runs} runs, polled every 2 ms, NODE_EXTRA_CA_CERTS unset)`);
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
  out.push(`Verge's code cache (src/code-cache.ts) was made by one start beforehand that served and lived ${PRIME_MS / 1000} s, in a folder of this run's own: ${startup.codeCache.join(', ')}. "code cache off": \`VERGE_CODE_CACHE=0\`. This part alone: \`BENCH_ONLY=startup npm run bench\`.`);
  out.push('');
}
