/**
 * Idle memory: the RSS of each server process after start-up and a few requests, median of
 * several starts: Verge serving examples/hello, Verge serving five apps (five copies of it, each
 * on its own route prefix), and the node:http and workerd peers serving the same body.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, httpGet, pollUntil200, readMemory, sleep, startChild } from './proc.js';
import { fmtMiB, median, table } from './report.js';
import { HELLO_PATH, helloWasm, verifyHello, type HarnessContext, type ServerDef } from './servers.js';

export const FIVE_APPS = 5;
/** How long a server sits idle after its requests before its RSS is read. */
const SETTLE_MS = 1000;
/**
 * A second reading, once V8's memory reducer has had its turn: it starts about 8 s after a
 * heap's last major GC (its start delay) and shrinks the young generation of every isolate
 * (3 MB → 0.3 MB each on Verge's main thread and worker). Peers are read at the same times.
 */
const LATE_MS = 12_000;
const REQUESTS_PER_URL = 5;

interface Subject {
  label: string;
  target: string;
  start(port: number): ReturnType<ServerDef['start']>;
  paths: string[];
}

export interface IdleMemoryResults {
  runs: number;
  vergeCommand: string;
  rows: Array<{ label: string; target: string; rssKiB: number[]; lateRssKiB: number[] }>;
}

/** Five apps in bench/.work/apps, each serving examples/hello's module under /appN/. */
function writeFiveApps(h: HarnessContext): string[] {
  const dirs: string[] = [];
  for (let i = 1; i <= FIVE_APPS; i++) {
    const dir = path.join(h.work, 'apps', `app${i}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'verge.toml'),
      [`[application]`, `name = "bench-app${i}"`, '', '[[route]]', `path = "/app${i}/..."`, 'component = "hello"', '', '[component.hello]', `source = ${JSON.stringify(helloWasm(h))}`, ''].join('\n'),
    );
    dirs.push(dir);
  }
  return dirs;
}

function vergeWith(h: HarnessContext, apps: string[]): (port: number) => ReturnType<ServerDef['start']> {
  return (port) => startChild('verge', process.execPath, [h.vergeBin, 'up', ...apps, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...h.vergeWorkerArgs], { cwd: h.root });
}

async function idleRss(h: HarnessContext, s: Subject): Promise<{ early: number; late: number }> {
  const port = await freePort();
  const child = h.track(s.start(port));
  try {
    for (const p of s.paths) {
      const url = `http://127.0.0.1:${port}${p}`;
      const ok = await pollUntil200(child, url, 30_000, 10);
      if (p === HELLO_PATH) verifyHello(s.label, ok.result);
      for (let i = 0; i < REQUESTS_PER_URL; i++) await httpGet(url);
    }
    await sleep(SETTLE_MS);
    const early = readMemory(child.pid)?.rssKiB ?? NaN;
    await sleep(LATE_MS - SETTLE_MS);
    return { early, late: readMemory(child.pid)?.rssKiB ?? NaN };
  } finally {
    await h.stop(child);
  }
}

export async function idleMemoryPhase(h: HarnessContext, servers: ServerDef[], runs: number): Promise<IdleMemoryResults> {
  const byKey = (k: ServerDef['key']) => servers.find((s) => s.key === k)!;
  const five = writeFiveApps(h);
  const subjects: Subject[] = [
    { label: 'Verge, one app', target: '≤ 64 MiB', start: byKey('verge').start, paths: [HELLO_PATH] },
    { label: `Verge, ${FIVE_APPS} apps`, target: '≤ 80 MiB', start: vergeWith(h, five), paths: five.map((_, i) => `/app${i + 1}/hello`) },
    { label: 'node:http', target: '', start: byKey('node').start, paths: [HELLO_PATH] },
    { label: 'workerd', target: '', start: byKey('workerd').start, paths: [HELLO_PATH] },
  ];
  const rows = subjects.map((s) => ({ label: s.label, target: s.target, rssKiB: [] as number[], lateRssKiB: [] as number[] }));
  for (let i = 0; i < runs; i++) {
    for (const [k, s] of subjects.entries()) {
      const { early, late } = await idleRss(h, s);
      rows[k]!.rssKiB.push(early);
      rows[k]!.lateRssKiB.push(late);
    }
    h.log(`idle memory run ${i + 1}/${runs}: ${rows.map((r) => `${r.label} ${fmtMiB(r.rssKiB.at(-1)!)} (${fmtMiB(r.lateRssKiB.at(-1)!)} at ${LATE_MS / 1000} s)`).join(', ')}`);
  }
  const vergeCommand = `verge up APP… --log-level warn${h.vergeWorkerArgs.map((a) => ' ' + a).join('')}`;
  return { runs, vergeCommand, rows };
}

export function renderIdleMemory(r: IdleMemoryResults): string {
  const out: string[] = [];
  out.push(`### Idle memory: RSS ${SETTLE_MS / 1000} s and ${LATE_MS / 1000} s after start-up and ${REQUESTS_PER_URL} requests per app (${r.runs} starts each)`);
  out.push('');
  const range = (v: number[]) => `${fmtMiB(Math.min(...v))}–${fmtMiB(Math.max(...v))}`;
  out.push(
    table(
      ['server', `median RSS at ${SETTLE_MS / 1000} s`, 'range', `median RSS at ${LATE_MS / 1000} s`, 'range', 'target'],
      r.rows.map((x) => [x.label, fmtMiB(median(x.rssKiB)), range(x.rssKiB), fmtMiB(median(x.lateRssKiB)), range(x.lateRssKiB), x.target]),
      ['l', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  out.push('');
  out.push(
    `VmRSS of the server process (Verge's worker threads included), read ${SETTLE_MS / 1000} s after the last request and again at ${LATE_MS / 1000} s, once V8's memory reducer (which starts about 8 s after a heap's last major GC) has shrunk each isolate's young generation. Verge: \`${r.vergeCommand}\`; the ${FIVE_APPS} apps each route /appN/... to examples/hello's module. ` +
      'This part alone: `BENCH_ONLY=memory npm run bench`.',
  );
  out.push('');
  return out.join('\n');
}
