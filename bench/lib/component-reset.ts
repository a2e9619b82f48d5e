/**
 * What a fresh instance per request costs a worker, measured in-process as CPU time (so that a
 * machine shared with other load skews it far less than req/s over HTTP): the same component
 * served by three ComponentRunners in one thread, in alternating blocks —
 *
 * - reset: the default, the instance put back into its post-instantiation state after each request;
 * - new: a new instance per request (the runner's reset switched off: what Verge did before);
 * - reused: `instance_reuse` past the run's length, for the floor (no isolation).
 *
 * Per runner: CPU ms per request (process.cpuUsage over the block, this thread being the only busy
 * one), split into the handler's run and what follows it (reset or instantiation), the median
 * block; every request is `GET /health`. Run: `node dist/bench/lib/component-reset.js [component.wasm] [blocks] [requests per block]`;
 * without a file it builds test/fixtures/components/portable.js (GET /health).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { prepareComponent } from '../../src/loader/component.js';
import { createComponentImports } from '../../src/capabilities/guest-imports.js';
import { createBridgeEnds, HostBridge } from '../../src/dispatch/host-bridge.js';
import type { ComponentModuleSpec, GuestRequest } from '../../src/dispatch/protocol.js';
import { MemoryRecycler } from '../../src/sandbox/memory-recycler.js';
import { LineSink } from '../../src/sandbox/output.js';
import { GuestScope } from '../../src/sandbox/scope.js';
import { ComponentRunner } from '../../src/sandbox/component/runner.js';
import { fixtureComponent } from '../../test/support/components.js';
import { guestRequest } from '../../test/support/guest-request.js';

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Block {
  run: number;
  after: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const [file, blocksArg, perArg] = process.argv.slice(2);
  const blocks = Number(blocksArg ?? 10);
  const per = Number(perArg ?? 30);
  const bytes = file ? new Uint8Array(readFileSync(file)) : await fixtureComponent('portable');
  const cacheRoot = mkdtempSync(path.join(os.tmpdir(), 'verge-bench-reset-'));
  const ends = createBridgeEnds();
  try {
    const prepared = await prepareComponent(bytes, { component: 'c', where: 'c', capPages: 2048, instanceReuse: 1, maxResponseBytes: 1 << 20, cacheRoot });
    const spec: ComponentModuleSpec = { ...prepared.spec, grants: { kvStores: [], variables: [], outbound: false } };
    const scope = new GuestScope(() => undefined, new HostBridge(ends.workerPort, ends.signal), () => {});
    const sink = new LineSink(() => {});
    const imports = createComponentImports(scope, { stdout: sink, stderr: sink });
    const runners = {
      reset: await ComponentRunner.load(spec, imports, new MemoryRecycler()),
      new: await ComponentRunner.load(spec, imports, new MemoryRecycler()),
      reused: await ComponentRunner.load({ ...spec, instanceReuse: 1_000_000 }, imports, new MemoryRecycler()),
    };
    (runners.new as unknown as { resettable: boolean }).resettable = false;
    const req: GuestRequest = { ...guestRequest('bench', 'c'), url: '/health' };
    const block = (r: ComponentRunner, n: number): Block => {
      let run = 0;
      let after = 0;
      for (let i = 0; i < n; i++) {
        scope.begin({ id: `b${i}`, version: 'v1', component: 'c', grants: spec.grants });
        const a = cpuMs();
        const res = r.run(req);
        const b = cpuMs();
        scope.end();
        r.prepareNext();
        after += cpuMs() - b;
        run += b - a;
        if (res.status >= 500) throw new Error(`the component answered ${res.status}`);
      }
      return { run: run / n, after: after / n };
    };
    const seen: Record<keyof typeof runners, Block[]> = { reset: [], new: [], reused: [] };
    for (const r of Object.values(runners)) block(r, per); // warm-up
    for (let b = 0; b < blocks; b++) for (const [k, r] of Object.entries(runners)) seen[k as keyof typeof runners].push(block(r, per));
    const row = (k: keyof typeof runners) => {
      const run = median(seen[k].map((x) => x.run));
      const after = median(seen[k].map((x) => x.after));
      return { run, after, total: median(seen[k].map((x) => x.run + x.after)) };
    };
    const rows = { reset: row('reset'), new: row('new'), reused: row('reused') };
    const out = [
      `Component ${file ?? 'test/fixtures/components/portable.js (GET /health)'}, ${prepared.coreBytes} bytes of core modules; ${blocks} blocks × ${per} requests per runner, alternating; ` +
        `reset possible: ${(runners.reset as unknown as { resettable: boolean }).resettable}.`,
      '',
      '| runner | CPU ms / request | handler | after the response (reset / new instance) |',
      '|---|---:|---:|---:|',
      ...Object.entries(rows).map(([k, v]) => `| ${k} | ${v.total.toFixed(2)} | ${v.run.toFixed(2)} | ${v.after.toFixed(2)} |`),
      '',
      `new ÷ reset (CPU per request): ${(rows.new.total / rows.reset.total).toFixed(2)}×; reused ÷ reset: ${(rows.reused.total / rows.reset.total).toFixed(2)}×`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    ends.mainPort.close();
    ends.workerPort.close();
    rmSync(cacheRoot, { recursive: true, force: true });
  }
}

await main();
