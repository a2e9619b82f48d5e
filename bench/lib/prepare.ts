/**
 * Before any part runs: install the workerd peer on first use, build examples/hello, generate the
 * big module for the first-request part, and describe the machine for the report's header.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBigModule } from './bigmodule.js';
import { childEnv } from './proc.js';
import { helloWasm, type HarnessContext } from './servers.js';

// workerd is a peer for the benchmark only: installed on first use into bench/.work rather than
// as a devDependency, so `npm ci` stays lean and does not need every platform's binary in the lockfile.
const WORKERD_PACKAGE = '@cloudflare/workerd-linux-64@1.20261117.1';

export function workerdPrefix(work: string): string {
  return path.join(work, 'peers');
}

export function workerdBin(work: string): string {
  return path.join(workerdPrefix(work), 'node_modules', '@cloudflare', 'workerd-linux-64', 'bin', 'workerd');
}

export function run(root: string, cmd: string, args: string[], what: string, timeoutMs = 300_000, env = childEnv()): string {
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error || r.status !== 0) {
    throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout ?? ''}\n${r.stderr ?? ''}`);
  }
  return `${r.stdout}${r.stderr}`;
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

export interface Machine {
  date: string;
  cores: number;
  cpu: string;
  node: string;
  workerd: string;
  wrk: string;
  kernel: string;
  git: string;
}

export function machine(h: HarnessContext, needsWorkerd: boolean): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const wrk = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  const git = spawnSync('git', ['-C', h.root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const dirty = spawnSync('git', ['-C', h.root, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' });
  return {
    date: firstLine(spawnSync('date', ['-u'], { encoding: 'utf8' }).stdout ?? new Date().toUTCString()),
    cores: os.availableParallelism(),
    cpu: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    node: process.version,
    workerd: needsWorkerd || existsSync(h.workerdBin) ? firstLine(run(h.root, h.workerdBin, ['--version'], 'workerd --version')) : 'workerd not used',
    wrk: firstLine(`${wrk.stdout ?? ''}${wrk.stderr ?? ''}`).replace(/\s*Copyright.*$/, ''),
    kernel: `${os.type()} ${os.release()}`,
    git: git.status === 0 ? `${git.stdout.trim()}${dirty.stdout?.trim() ? ' + uncommitted changes in src/' : ''}` : 'unknown',
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

export interface Prepared {
  helloBytes: number;
  helloSha: string;
  bigManifest: string;
  bigBytes: number;
  bigFunctions: number;
}

export async function prepare(h: HarnessContext, opts: { needsWorkerd: boolean; needsHello: boolean; bigKb: number }): Promise<Prepared> {
  if (opts.needsWorkerd && !existsSync(h.workerdBin)) {
    const prefix = workerdPrefix(h.work);
    h.log(`installing the workerd peer (${WORKERD_PACKAGE}) into ${prefix}`);
    mkdirSync(prefix, { recursive: true });
    // With the harness's whole environment: where the registry is reached through a proxy, npm needs NODE_EXTRA_CA_CERTS.
    run(h.root, 'npm', ['install', '--no-save', '--no-package-lock', '--prefix', prefix, WORKERD_PACKAGE], 'npm install workerd', 300_000, process.env);
  }
  for (const f of [h.vergeBin, h.nodePeer, ...(opts.needsWorkerd ? [h.workerdConfig, h.workerdBin] : [])]) {
    if (!existsSync(f)) throw new Error(`missing ${f} (run \`npm run build\`)`);
  }
  if (!existsSync(path.join(h.helloDir, 'verge.toml'))) throw new Error(`missing ${h.helloDir}/verge.toml`);
  mkdirSync(h.work, { recursive: true });
  if (!opts.needsHello) return { helloBytes: NaN, helloSha: 'n/a', bigManifest: '', bigBytes: NaN, bigFunctions: 0 };
  h.log('building examples/hello (verge build examples/hello)');
  run(h.root, process.execPath, [h.vergeBin, 'build', 'examples/hello'], 'verge build examples/hello');
  const hello = readFileSync(helloWasm(h));
  mkdirSync(h.work, { recursive: true });
  // workerd embeds bench/.work/hello.wasm (see peers/workerd.capnp): the same bytes Verge serves.
  copyFileSync(helloWasm(h), path.join(h.work, 'hello.wasm'));

  h.log(`generating a ~${opts.bigKb} KB module with wabt`);
  const big = await buildBigModule(opts.bigKb * 1000);
  const bigDir = path.join(h.work, 'big');
  mkdirSync(bigDir, { recursive: true });
  writeFileSync(path.join(bigDir, 'big.wasm'), big.bytes);
  writeFileSync(
    path.join(bigDir, 'verge.toml'),
    ['[application]', 'name = "bench-big"', '', '[component.big]', 'source = "big.wasm"', '', '[[route]]', 'path = "/big"', 'component = "big"', ''].join('\n'),
  );
  return { helloBytes: hello.length, helloSha: sha256(hello), bigManifest: bigDir, bigBytes: big.bytes.length, bigFunctions: big.functions };
}
