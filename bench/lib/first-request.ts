/**
 * First request: a generated ~300 KB module and examples/hello, the first and second request
 * after `verge up` prints "Serving", each on a new connection.
 */
import { performance } from 'node:perf_hooks';
import { BIG_BODY } from './bigmodule.js';
import type { Prepared } from './prepare.js';
import { freePort, httpGet } from './proc.js';
import { fmtInt, fmtMs, median, table } from './report.js';
import { HELLO_BODY, HELLO_PATH, type HarnessContext, type ServerDef } from './servers.js';

interface FirstRequestResult {
  label: string;
  bytes: number;
  ready: number[];
  first: number[];
  second: number[];
  statuses: string[];
}

export interface FirstRequestResults {
  runs: number;
  modules: FirstRequestResult[];
}

export async function firstRequestPhase(h: HarnessContext, verge: ServerDef, prep: Prepared, runs: number): Promise<FirstRequestResults> {
  const modules = [
    { label: `generated, ${prep.bigFunctions} functions`, manifest: prep.bigManifest, urlPath: '/big', body: BIG_BODY, bytes: prep.bigBytes },
    { label: 'examples/hello', manifest: h.helloDir, urlPath: HELLO_PATH, body: HELLO_BODY, bytes: prep.helloBytes },
  ];
  const out: FirstRequestResult[] = modules.map((m) => ({ label: m.label, bytes: m.bytes, ready: [], first: [], second: [], statuses: [] }));
  for (let i = 0; i < runs; i++) {
    for (const [k, m] of modules.entries()) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}${m.urlPath}`;
      const t0 = performance.now();
      const child = h.track(verge.start(port, m.manifest));
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
            h.notes.push(`first-request run ${i + 1}, ${m.label}: request ${n} answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}.`);
          }
        }
      } finally {
        await h.stop(child);
      }
    }
    h.log(`first-request run ${i + 1}/${runs}: ${out.map((r) => `${r.label}: ready ${fmtMs(r.ready.at(-1)!)}, 1st ${fmtMs(r.first.at(-1)!)}, 2nd ${fmtMs(r.second.at(-1)!)} (${r.statuses.at(-1)})`).join('; ')}`);
  }
  return { runs, modules: out };
}

export function renderFirst(out: string[], first: FirstRequestResults): void {
  out.push(`### First request after \`verge up\` prints "Serving" (${first.runs} runs, new connection per request)`);
  out.push('');
  out.push(
    table(
      ['module', 'size', 'spawn → Serving', 'first request', 'second request', 'statuses (1st/2nd)'],
      first.modules.map((r) => [r.label, `${fmtInt(r.bytes)} bytes`, fmtMs(median(r.ready)), fmtMs(median(r.first)), fmtMs(median(r.second)), r.statuses.join(' ')]),
      ['l', 'r', 'r', 'r', 'r', 'l'],
    ),
  );
  out.push('');
}
