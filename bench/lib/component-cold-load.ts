/**
 * A JS component's first load with an empty transpile cache: spawn `verge up` → first 200, for
 * one or more Verge checkouts side by side (before/after), alternating so that drift on a shared
 * machine falls on all of them alike. Each run gets a new, empty `VERGE_CACHE_DIR`, so the load
 * transpiles, reads the core modules and compiles them, as the first start after a deploy does.
 *
 * Run: `node dist/bench/lib/component-cold-load.js <component.wasm> <runs> <checkout>...`; each
 * checkout is a built Verge (its bin/verge.js is started); the component is served at `/...` and
 * polled on `/health` (test/fixtures/components/portable.js answers it). Beside the wall time, the
 * process's CPU time (all its threads) when the 200 arrives: on a machine others load, that moves
 * far less than the wall time does.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CLK_TCK, freePort, installExitGuards, pollUntil200, processTicks, startChild, stopChild } from './proc.js';
import { median } from './report.js';

async function main(): Promise<void> {
  const [wasm, runsArg, ...checkouts] = process.argv.slice(2);
  if (!wasm || checkouts.length === 0) throw new Error('usage: component-cold-load.js <component.wasm> <runs> <checkout>...');
  const runs = Number(runsArg);
  installExitGuards();
  const app = mkdtempSync(path.join(os.tmpdir(), 'verge-cold-load-'));
  cpSync(wasm, path.join(app, 'c.wasm'));
  writeFileSync(path.join(app, 'verge.toml'), '[application]\nname = "cold"\n\n[[route]]\npath = "/..."\ncomponent = "c"\n\n[component.c]\nsource = "c.wasm"\n');
  const seen = new Map<string, { serving: number[]; first200: number[]; cpu: number[] }>(checkouts.map((c) => [c, { serving: [], first200: [], cpu: [] }]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const checkout of i % 2 === 0 ? checkouts : [...checkouts].reverse()) {
        const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-cold-cache-'));
        const port = await freePort();
        const t0 = performance.now();
        const child = startChild(checkout, process.execPath, [path.join(checkout, 'bin/verge.js'), 'up', app, '--listen', `127.0.0.1:${port}`], {
          env: { ...process.env, NODE_EXTRA_CA_CERTS: undefined, VERGE_CACHE_DIR: cache },
        });
        try {
          const serving = child.waitForStderr(/^Serving /, 120_000);
          const { at } = await pollUntil200(child, `http://127.0.0.1:${port}/health`, 120_000, 5);
          const cpu = ((processTicks(child.pid) ?? NaN) * 1000) / CLK_TCK;
          const s = seen.get(checkout)!;
          s.cpu.push(cpu);
          s.serving.push((await serving) - t0);
          s.first200.push(at - t0);
          process.stderr.write(`run ${i + 1} ${checkout}: Serving ${((await serving) - t0).toFixed(0)} ms, first 200 ${(at - t0).toFixed(0)} ms, CPU ${cpu.toFixed(0)} ms\n`);
        } finally {
          await stopChild(child);
          rmSync(cache, { recursive: true, force: true });
        }
      }
    }
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
  const lines = [
    '| checkout | spawn → Serving (median) | spawn → first 200 (median) | process CPU at the first 200 (median) | first 200, each run |',
    '|---|---:|---:|---:|---|',
  ];
  for (const [c, s] of seen) {
    lines.push(`| ${c} | ${median(s.serving).toFixed(0)} ms | ${median(s.first200).toFixed(0)} ms | ${median(s.cpu).toFixed(0)} ms | ${s.first200.map((x) => x.toFixed(0)).join(', ')} |`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

await main();
