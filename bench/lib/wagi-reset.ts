/**
 * What a WAGI request costs a worker with its instance put back (the default) and with a new
 * instance per request (what Verge did before), measured in one thread as CPU time, so that a
 * machine shared with other load skews it far less than req/s over HTTP. Both runners are the
 * worker's own (sandbox/wagi/runner.ts), serving the same module, prepared as the loader prepares
 * it (memory rewrite, state exported), in alternating blocks; a request's CPU includes posting its
 * answer and giving its memory (and instance) back, and the garbage collections it causes (V8's
 * helper threads included: process.cpuUsage is the whole process, and only this thread is busy).
 *
 *   node dist/bench/lib/wagi-reset.js [module.wasm] [blocks] [requests per block]
 *
 * Without a file it serves examples/hello (GET /api/hello).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBridgeEnds, HostBridge } from '../../src/dispatch/host-bridge.js';
import type { FromWorker, GuestRequest, WagiModuleSpec } from '../../src/dispatch/protocol.js';
import { createVergeImports } from '../../src/capabilities/guest-imports.js';
import { LastWords } from '../../src/sandbox/guest-failure.js';
import { MemoryRecycler } from '../../src/sandbox/memory-recycler.js';
import { LineSink } from '../../src/sandbox/output.js';
import { GuestScope } from '../../src/sandbox/scope.js';
import { createWagiRunner, loadWagiModule } from '../../src/sandbox/wagi/runner.js';
import { sandboxModule } from '../../src/wasm/binary.js';
import { exposeStateForReset } from '../../src/wasm/state-exports.js';
import { guestRequest } from '../../test/support/guest-request.js';

const HELLO = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function main(): void {
  const [file = HELLO, blocksArg, perArg] = process.argv.slice(2);
  const blocks = Number(blocksArg ?? 10);
  const per = Number(perArg ?? 5000);
  const sandboxed = sandboxModule(new Uint8Array(readFileSync(file)), 2048);
  const exposed = exposeStateForReset(sandboxed.bytes);
  const spec: WagiModuleSpec = {
    kind: 'wagi',
    component: 'c',
    module: new WebAssembly.Module(exposed.bytes),
    memory: sandboxed.memory,
    maxResponseBytes: 1 << 20,
    grants: { kvStores: [], variables: [], outbound: false },
  };
  const ends = createBridgeEnds();
  try {
    let failed: unknown;
    const post = (m: FromWorker) => void (m.t === 'fail' && (failed ??= m));
    const scope = new GuestScope(() => runner.memory(), new HostBridge(ends.workerPort, ends.signal), post);
    const sink = new LineSink(() => {});
    const runner = createWagiRunner({ scope, post, stderr: sink, lastWords: new LastWords(), vergeImports: createVergeImports(scope) });
    const modules = {
      'put back': loadWagiModule(spec, new MemoryRecycler()),
      new: { ...loadWagiModule(spec, new MemoryRecycler()), state: undefined },
    };
    const req: GuestRequest = { ...guestRequest('bench', 'c'), url: '/api/hello' };
    const block = (m: (typeof modules)[keyof typeof modules], n: number): number => {
      const a = cpuUs();
      for (let i = 0; i < n; i++) runner.run(m, req, undefined);
      if (failed) throw new Error(`the guest failed: ${JSON.stringify(failed)}`);
      return (cpuUs() - a) / n;
    };
    const seen: Record<keyof typeof modules, number[]> = { 'put back': [], new: [] };
    for (const m of Object.values(modules)) block(m, per); // warm-up
    for (let b = 0; b < blocks; b++) for (const [k, m] of Object.entries(modules)) seen[k as keyof typeof modules].push(block(m, per));
    const putBack = median(seen['put back']);
    const fresh = median(seen.new);
    const out = [
      `Module ${file}, ${readFileSync(file).length} bytes; state exported: ${'refused' in exposed ? `no (${exposed.refused})` : 'yes'}; ${blocks} blocks × ${per} requests per runner, alternating; median block.`,
      '',
      '| runner | CPU µs / request | blocks (min–max) |',
      '|---|---:|---:|',
      ...Object.entries(seen).map(([k, xs]) => `| ${k} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)} |`),
      '',
      `new ÷ put back (CPU per request): ${(fresh / putBack).toFixed(2)}×`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    ends.mainPort.close();
    ends.workerPort.close();
  }
}

main();
