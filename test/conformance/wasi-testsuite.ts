/**
 * Runs the official WASI test suite's prebuilt preview1 tests through Verge's preview1 (opt-in:
 * `npm run test:wasi-testsuite`, not part of `npm test`, since the suite's binaries are not ours
 * to commit). Point WASI_TESTSUITE at a checkout of WebAssembly/wasi-testsuite's
 * `prod/testsuite-all` branch:
 *
 *   git clone -b prod/testsuite-all --depth 1 https://github.com/WebAssembly/wasi-testsuite /tmp/wasi-testsuite
 *   WASI_TESTSUITE=/tmp/wasi-testsuite npm run test:wasi-testsuite
 *
 * Tests that need a preopened directory are skipped: a WAGI request has no filesystem. Each test
 * is judged as the suite's specification says (doc/specification.md): exit code, and stdout and
 * stderr when the test's .json names them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ProcExit, WASI_MODULE, cStringList, createWasiImports, type OutputSink, type WasiRequest } from '../../src/sandbox/wagi/wasi-p1.js';

interface Spec {
  args: string[];
  dirs: string[];
  env: Record<string, string>;
  exit_code: number;
  stdout?: string;
  stderr?: string;
  operations?: unknown;
}

class Collected implements OutputSink {
  private chunks: Buffer[] = [];
  write(bytes: Uint8Array): void {
    this.chunks.push(Buffer.from(bytes));
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

let state: WasiRequest;
const wasi = createWasiImports(() => state);

/** Problems with one test's run; empty when it passed. */
function runTest(wasmPath: string, spec: Spec): string[] {
  const stdout = new Collected();
  const stderr = new Collected();
  state = {
    memory: undefined,
    args: cStringList([path.basename(wasmPath), ...spec.args]),
    env: cStringList(Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)),
    stdin: new Uint8Array(0),
    stdinOffset: 0,
    stdout,
    stderr,
    startedNs: process.hrtime.bigint(),
  };
  let exitCode = 0;
  try {
    const module = new WebAssembly.Module(readFileSync(wasmPath));
    const foreign = WebAssembly.Module.imports(module).find((i) => i.module !== WASI_MODULE);
    if (foreign) return [`imports ${foreign.module}.${foreign.name}, which is not preview1`];
    const instance = new WebAssembly.Instance(module, { [WASI_MODULE]: wasi });
    state.memory = instance.exports.memory as WebAssembly.Memory;
    (instance.exports._start as () => void)();
  } catch (err) {
    if (!(err instanceof ProcExit)) return [`failed: ${(err as Error).message} ${stderr.text().trim().slice(0, 300)}`];
    exitCode = err.code;
  }
  const problems: string[] = [];
  if (exitCode !== spec.exit_code) problems.push(`exit code ${exitCode}, expected ${spec.exit_code}`);
  if (spec.stdout !== undefined && stdout.text() !== spec.stdout) problems.push(`stdout ${JSON.stringify(stdout.text())}, expected ${JSON.stringify(spec.stdout)}`);
  if (spec.stderr !== undefined && stderr.text() !== spec.stderr) problems.push(`stderr ${JSON.stringify(stderr.text())}, expected ${JSON.stringify(spec.stderr)}`);
  return problems;
}

function main(): void {
  const root = process.env.WASI_TESTSUITE;
  const testsDir = root && path.join(root, 'tests');
  if (!testsDir || !existsSync(testsDir)) {
    console.log('wasi-testsuite: skipped. Set WASI_TESTSUITE to a checkout of WebAssembly/wasi-testsuite (branch prod/testsuite-all); see test/conformance/wasi-testsuite.ts.');
    return;
  }
  let passed = 0;
  let skipped = 0;
  const failed: string[] = [];
  for (const language of readdirSync(testsDir).sort()) {
    const dir = path.join(testsDir, language, 'testsuite', 'wasm32-wasip1');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort()) {
      const name = `${language}/${file.slice(0, -'.wasm'.length)}`;
      const specPath = path.join(dir, file.replace(/\.wasm$/, '.json'));
      const spec: Spec = { args: [], dirs: [], env: {}, exit_code: 0, ...(existsSync(specPath) ? (JSON.parse(readFileSync(specPath, 'utf8')) as Partial<Spec>) : {}) };
      if (spec.dirs.length > 0 || spec.operations !== undefined) {
        skipped++;
        continue;
      }
      const problems = runTest(path.join(dir, file), spec);
      if (problems.length === 0) passed++;
      else failed.push(`${name}: ${problems.join('; ')}`);
    }
  }
  for (const f of failed) console.log(`FAIL ${f}`);
  console.log(`wasi-testsuite: ${passed} passed, ${failed.length} failed, ${skipped} skipped (they need a preopened directory)`);
  if (failed.length > 0 || passed === 0) process.exitCode = 1;
}

main();
