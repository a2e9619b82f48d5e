/**
 * Runs the official WASI test suite's prebuilt preview1 tests through Verge's preview1 (opt-in:
 * `npm run test:wasi-testsuite`, not part of `npm test`, since the suite's binaries are not ours
 * to commit). Point WASI_TESTSUITE at a checkout of WebAssembly/wasi-testsuite's
 * `prod/testsuite-all` branch:
 *
 *   git clone -b prod/testsuite-all --depth 1 https://github.com/WebAssembly/wasi-testsuite /tmp/wasi-testsuite
 *   WASI_TESTSUITE=/tmp/wasi-testsuite npm run test:wasi-testsuite
 *
 * Tests that name directories get them preopened read-only, as a component's `files` mount is: each
 * folder is snapshotted by the same code that loads mounts (capabilities/files/snapshot.ts) and
 * served by Verge's preview1 file system. The suite's tests that only read are counted apart from
 * the ones that create, write or remove files, which a read-only mount refuses by design. Each test
 * is judged as the suite's specification says (doc/specification.md): exit code, and stdout and
 * stderr when the test's .json names them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ProcExit, WASI_MODULE, cStringList, createWasiImports, type OutputSink, type WasiRequest } from '../../src/sandbox/wagi/wasi-p1.js';
import { FdTable, type Preopen } from '../../src/capabilities/files/bindings/wasi-p1.js';
import { snapshotFiles } from '../../src/capabilities/files/snapshot.js';
import type { AppConfig, ComponentConfig } from '../../src/manifest/config.js';

/**
 * The suite's filesystem tests that only read (from their sources on the suite's main branch):
 * they open, read, seek, stat and list, and create nothing.
 */
const READ_ONLY_TESTS = new Set([
  'c/fdopendir-with-access',
  'c/fopen-with-access',
  'c/lseek',
  'c/pread-with-access',
  'c/stat-dev-ino',
  'rust/close_preopen',
  'rust/dir_fd_op_failures',
  'rust/path_open_nonblock',
  'rust/path_open_preopen',
]);

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

/** Each of the test's folders, read-only, under the name the suite gives it (the runner's --dir host::guest). */
async function preopens(testDir: string, dirs: string[]): Promise<Preopen[]> {
  const out: Preopen[] = [];
  for (const dir of dirs) {
    const component = { name: 't', files: { globs: [], folders: [{ source: dir, destination: '/', key: 'files[0]' }], exclude: [] } } as unknown as ComponentConfig;
    const app = { file: path.join(testDir, 'verge.toml'), dir: testDir, components: new Map([['t', component]]) } as unknown as AppConfig;
    const files = await snapshotFiles(app);
    out.push({ name: dir, root: files!.trees.get('t')! });
  }
  return out;
}

/** Problems with one test's run; empty when it passed. */
function runTest(wasmPath: string, spec: Spec, dirs: Preopen[]): string[] {
  const stdout = new Collected();
  const stderr = new Collected();
  const files = dirs.length > 0 ? new FdTable(dirs, (line) => stderr.write(Buffer.from(`${line}\n`))) : undefined;
  state = {
    memory: undefined,
    args: cStringList([path.basename(wasmPath), ...spec.args]),
    env: cStringList(Object.entries(spec.env).map(([k, v]) => `${k}=${v}`)),
    stdin: new Uint8Array(0),
    stdinOffset: 0,
    stdout,
    stderr,
    startedNs: process.hrtime.bigint(),
    files,
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
  } finally {
    files?.closeAll();
  }
  const problems: string[] = [];
  if (exitCode !== spec.exit_code) problems.push(`exit code ${exitCode}, expected ${spec.exit_code}`);
  if (spec.stdout !== undefined && stdout.text() !== spec.stdout) problems.push(`stdout ${JSON.stringify(stdout.text())}, expected ${JSON.stringify(spec.stdout)}`);
  if (spec.stderr !== undefined && stderr.text() !== spec.stderr) problems.push(`stderr ${JSON.stringify(stderr.text())}, expected ${JSON.stringify(spec.stderr)}`);
  return problems;
}

async function main(): Promise<void> {
  const root = process.env.WASI_TESTSUITE;
  const testsDir = root && path.join(root, 'tests');
  if (!testsDir || !existsSync(testsDir)) {
    console.log('wasi-testsuite: skipped. Set WASI_TESTSUITE to a checkout of WebAssembly/wasi-testsuite (branch prod/testsuite-all); see test/conformance/wasi-testsuite.ts.');
    return;
  }
  const count = { passed: 0, failed: [] as string[] };
  const readOnly = { passed: 0, failed: [] as string[] };
  const writing = { passed: 0, failed: [] as string[] };
  let skipped = 0;
  for (const language of readdirSync(testsDir).sort()) {
    const dir = path.join(testsDir, language, 'testsuite', 'wasm32-wasip1');
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort()) {
      const name = `${language}/${file.slice(0, -'.wasm'.length)}`;
      const specPath = path.join(dir, file.replace(/\.wasm$/, '.json'));
      const spec: Spec = { args: [], dirs: [], env: {}, exit_code: 0, ...(existsSync(specPath) ? (JSON.parse(readFileSync(specPath, 'utf8')) as Partial<Spec>) : {}) };
      if (spec.operations !== undefined) {
        skipped++;
        continue;
      }
      const problems = runTest(path.join(dir, file), spec, await preopens(dir, spec.dirs));
      const tally = spec.dirs.length === 0 ? count : READ_ONLY_TESTS.has(name) ? readOnly : writing;
      if (problems.length === 0) tally.passed++;
      else tally.failed.push(`${name}: ${problems.join('; ')}`);
    }
  }
  for (const f of [...count.failed, ...readOnly.failed]) console.log(`FAIL ${f}`);
  for (const f of writing.failed) console.log(`refused as expected (a read-only mount) ${f}`);
  console.log(`wasi-testsuite, no folder: ${count.passed} passed, ${count.failed.length} failed`);
  console.log(`wasi-testsuite, folders that are only read: ${readOnly.passed} passed, ${readOnly.failed.length} failed`);
  console.log(`wasi-testsuite, folders written to (a read-only mount refuses them): ${writing.passed} passed, ${writing.failed.length} refused`);
  if (skipped > 0) console.log(`wasi-testsuite: ${skipped} skipped (operation-based specifications: sockets, http)`);
  if (count.failed.length + readOnly.failed.length > 0 || count.passed === 0) process.exitCode = 1;
}

await main();
