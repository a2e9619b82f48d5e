/**
 * `verge doctor [PATH]`: what the toolchains and each app in PATH need, checked for real (a WASI
 * compile with clang, rustc's sysroot, a port bound, a connect) and each bounded in time. Every
 * problem comes with the command or setting that fixes it. Only a failure an app needs makes the
 * exit code non-zero; a toolchain no app uses is reported, not held against the folder.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AppConfig } from '../manifest/config.js';
import { loadManifest } from '../manifest/load.js';
import { parseListen } from '../node/start.js';
import { parsePgUrl } from '../capabilities/postgres/url.js';
import { JS_TOOLCHAIN_SOURCE, jsToolchainInstalled, toolchainCacheDir, toolchainKey } from './toolchain.js';

export const DOCTOR_LIMITS = Object.freeze({
  /** One spawned tool (rustc --print sysroot, a clang compile). */
  spawnMs: 20_000,
  /** One TCP connect to a database. */
  connectMs: 3000,
});

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type Need = 'rust' | 'c' | 'assemblyscript' | 'js';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  message: string;
  /** The exact command or setting that fixes it, for warn and fail. */
  fix?: string;
  /** Apps that need this check to pass; a failure then fails the doctor. */
  neededBy: string[];
}

export interface DoctorOptions {
  /** A folder holding apps (itself and its subfolders), or one verge.toml. */
  path: string;
  /** The address `verge up` would serve on. */
  listen: string;
  /** As verge up --data-dir, relative to each manifest's folder. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
}

const RUST_INSTALL = 'apt-get install rustc cargo libstd-rust-dev-wasm32 (Debian: /usr/bin/cargo, /usr/bin/rustc), or with rustup: rustup target add wasm32-wasip1';
const WASI_TARGETS = ['wasm32-wasi', 'wasm32-wasip1'];

export async function doctor(opts: DoctorOptions): Promise<{ results: CheckResult[]; failed: boolean }> {
  const { apps, results } = findApps(opts.path);
  const needs = new Map<Need, string[]>();
  for (const app of apps) for (const need of needsOf(app)) needs.set(need, [...(needs.get(need) ?? []), app.name]);
  const by = (need: Need) => needs.get(need) ?? [];
  const rust = await rustChecks(opts.env, by('rust'));
  results.push(...rust, await clangCheck(opts.env, by('c')), ascCheck([...apps.map((a) => a.dir), path.resolve(opts.path)], by('assemblyscript')), jsToolchainCheck(opts.env, by('js')));
  const rustc = rust.find((r) => r.name === 'rust')?.status === 'ok' ? await firstWasiRustc(opts.env) : undefined;
  for (const app of apps) results.push(...(await appChecks(app, opts, rustc)));
  if (apps.length > 0) results.push(await portCheck(opts.listen, apps.map((a) => a.name)));
  return { results, failed: results.some((r) => r.status === 'fail' && r.neededBy.length > 0) };
}

export function formatResult(r: CheckResult): string {
  const needed = r.neededBy.length > 0 ? ` [needed by ${r.neededBy.join(', ')}]` : '';
  return `${r.status.padEnd(4)}  ${r.name}: ${r.message}${r.fix ? `; fix: ${r.fix}` : ''}${needed}`;
}

/** PATH itself if it is an app, and each subfolder holding a verge.toml. */
function findApps(target: string): { apps: AppConfig[]; results: CheckResult[] } {
  const candidates: string[] = [];
  const root = path.resolve(target);
  if (existsSync(root) && statSync(root).isFile()) candidates.push(root);
  else {
    if (existsSync(path.join(root, 'verge.toml'))) candidates.push(path.join(root, 'verge.toml'));
    for (const e of existsSync(root) ? readdirSync(root, { withFileTypes: true }) : []) {
      if (e.isDirectory() && !e.name.startsWith('.') && e.name !== 'node_modules' && existsSync(path.join(root, e.name, 'verge.toml'))) candidates.push(path.join(root, e.name, 'verge.toml'));
    }
  }
  const apps: AppConfig[] = [];
  const results: CheckResult[] = [];
  for (const file of candidates) {
    try {
      apps.push(loadManifest(file));
    } catch (err) {
      const first = (err as Error).message.split('\n')[0];
      results.push({ name: `app ${path.relative(process.cwd(), file) || file}`, status: 'fail', message: `the manifest does not load: ${first}`, fix: `verge check ${file} lists every problem`, neededBy: [file] });
    }
  }
  if (candidates.length === 0) results.push({ name: 'apps', status: 'warn', message: `no verge.toml in ${root} or its subfolders: only the toolchains are checked`, fix: 'run verge doctor in an app folder, or verge new ts-http NAME', neededBy: [] });
  return { apps, results };
}

/** What an app's builds use, read from its components' build tables and folders. */
export function needsOf(app: AppConfig): Set<Need> {
  const needs = new Set<Need>();
  for (const c of app.components.values()) {
    const b = c.build;
    if (!b) continue;
    if (b.kind === 'typescript') {
      needs.add('js');
      continue;
    }
    if (/\bcargo\b|build-wasi\.sh/.test(b.command) || existsSync(path.join(b.workdir, 'Cargo.toml'))) needs.add('rust');
    if (/\bclang\b/.test(b.command)) needs.add('c');
    if (/\basc\b/.test(b.command)) needs.add('assemblyscript');
  }
  return needs;
}

/** Every executable `name` on PATH, in PATH order (what `which -a` prints). */
export function whichAll(name: string, env: NodeJS.ProcessEnv): string[] {
  const found: string[] = [];
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile() && !found.includes(file)) found.push(file);
    } catch {
      // not here
    }
  }
  return found;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd, timeout: DOCTOR_LIMITS.spawnMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const timedOut = err && (err as { killed?: boolean }).killed ? `no answer within ${DOCTOR_LIMITS.spawnMs / 1000} s` : '';
      resolve({ ok: !err, stdout: String(stdout), stderr: timedOut || String(stderr) || (err ? err.message : '') });
    });
  });
}

/** The WASI target whose std a rustc has (wasm32-wasi, or wasm32-wasip1 since Rust 1.78), and its version. */
async function rustcFacts(rustc: string, env: NodeJS.ProcessEnv): Promise<{ target: string | undefined; version: string }> {
  const [sysroot, version] = await Promise.all([run(rustc, ['--print', 'sysroot'], env), run(rustc, ['--version'], env)]);
  const root = sysroot.stdout.trim();
  const target = !sysroot.ok
    ? undefined
    : WASI_TARGETS.find((t) => {
        const lib = path.join(root, 'lib', 'rustlib', t, 'lib');
        return existsSync(lib) && readdirSync(lib).some((f) => f.startsWith('libstd-') && f.endsWith('.rlib'));
      });
  return { target, version: version.stdout.trim() || 'version unknown' };
}

async function firstWasiRustc(env: NodeJS.ProcessEnv): Promise<{ rustc: string; version: string } | undefined> {
  for (const rustc of env.RUSTC ? [env.RUSTC] : whichAll('rustc', env)) {
    const f = await rustcFacts(rustc, env);
    if (f.target) return { rustc, version: f.version };
  }
  return undefined;
}

/**
 * `rust`: some rustc on PATH (or $RUSTC) has a WASI std. `rust-path`: the first cargo/rustc on
 * PATH is one a plain `cargo build --target wasm32-wasi` can use — a rustup toolchain first on
 * PATH without the target is the common trap.
 */
async function rustChecks(env: NodeJS.ProcessEnv, neededBy: string[]): Promise<CheckResult[]> {
  if (env.RUSTC) {
    const f = await rustcFacts(env.RUSTC, env);
    return [
      f.target
        ? { name: 'rust', status: 'ok', message: `RUSTC=${env.RUSTC} (${f.version}) has the ${f.target} target`, neededBy }
        : { name: 'rust', status: 'fail', message: `RUSTC=${env.RUSTC} (${f.version}) has no wasm32-wasi (or wasm32-wasip1) std`, fix: `export RUSTC=/usr/bin/rustc (Debian's, with ${RUST_INSTALL.split(' (')[0]})`, neededBy },
    ];
  }
  const rustcs = whichAll('rustc', env);
  const cargos = whichAll('cargo', env);
  if (rustcs.length === 0 || cargos.length === 0) {
    const missing = [rustcs.length === 0 && 'rustc', cargos.length === 0 && 'cargo'].filter(Boolean).join(' and ');
    return [{ name: 'rust', status: 'fail', message: `no ${missing} on PATH`, fix: `${RUST_INSTALL}; or put them on PATH: export PATH=/usr/bin:$PATH`, neededBy }];
  }
  const facts = await Promise.all(rustcs.map((r) => rustcFacts(r, env)));
  const usable = facts.findIndex((f) => f.target !== undefined);
  if (usable === -1) return [{ name: 'rust', status: 'fail', message: `no rustc on PATH has a WASI std (${rustcs.join(', ')})`, fix: RUST_INSTALL, neededBy }];
  const good = rustcs[usable]!;
  const rust: CheckResult = { name: 'rust', status: 'ok', message: `${good} (${facts[usable]!.version}) has the ${facts[usable]!.target} target`, neededBy };
  if (usable === 0) return [rust, { name: 'rust-path', status: 'ok', message: `${cargos[0]} and ${rustcs[0]} are first on PATH`, neededBy: [] }];
  const cargo = path.join(path.dirname(good), 'cargo');
  return [
    rust,
    {
      name: 'rust-path',
      status: 'warn',
      message: `${rustcs[0]} (${facts[0]!.version}) is first on PATH and has no WASI target, so a plain cargo build --target wasm32-wasi fails with "can't find crate for std"`,
      fix: `build with ${existsSync(cargo) ? cargo : 'cargo'} and RUSTC=${good} (sdk/rust/build-wasi.sh does), or add the target to the first one: rustup target add wasm32-wasip1`,
      neededBy: [],
    },
  ];
}

/** A real compile and link of a C file for wasm32-wasi: the sysroot, headers and builtins all have to be there. */
async function clangCheck(env: NodeJS.ProcessEnv, neededBy: string[]): Promise<CheckResult> {
  const clang = whichAll('clang', env)[0];
  const fix = 'apt-get install clang lld wasi-libc libclang-rt-dev-wasm32 (the sysroot is /usr/lib/wasm32-wasi: compile with --target=wasm32-wasi --sysroot=/usr)';
  if (!clang) return { name: 'clang', status: 'fail', message: 'no clang on PATH', fix, neededBy };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-doctor-'));
  try {
    writeFileSync(path.join(dir, 'probe.c'), '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n');
    const r = await run(clang, ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', 'probe.wasm', 'probe.c'], env, dir);
    if (r.ok) return { name: 'clang', status: 'ok', message: `${clang} compiles and links for wasm32-wasi with --sysroot=/usr`, neededBy };
    const why = r.stderr.trim().split('\n').find((l) => /error|not found|cannot/i.test(l)) ?? r.stderr.trim().split('\n')[0];
    return { name: 'clang', status: 'fail', message: `${clang} cannot build for wasm32-wasi: ${why}`, fix, neededBy };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** AssemblyScript's compiler, from node_modules of an app folder (or the folder checked). */
function ascCheck(dirs: string[], neededBy: string[]): CheckResult {
  for (const dir of dirs) {
    try {
      const pkg = createRequire(path.join(dir, 'package.json')).resolve('assemblyscript/package.json');
      const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
      return { name: 'asc', status: 'ok', message: `AssemblyScript ${version} in ${path.dirname(pkg)}`, neededBy };
    } catch {
      // not from here
    }
  }
  return { name: 'asc', status: neededBy.length > 0 ? 'fail' : 'warn', message: 'no AssemblyScript compiler (asc) in node_modules', fix: 'npm install --save-dev assemblyscript (in the app folder)', neededBy };
}

/** The ts-http template's toolchain: installed once into a cache, then builds are offline. */
function jsToolchainCheck(env: NodeJS.ProcessEnv, neededBy: string[]): CheckResult {
  const dir = path.join(toolchainCacheDir(env), toolchainKey(JS_TOOLCHAIN_SOURCE));
  if (jsToolchainInstalled(dir)) return { name: 'js-toolchain', status: 'ok', message: `installed in ${dir}`, neededBy };
  return {
    name: 'js-toolchain',
    status: 'warn',
    message: `not installed yet (${dir}): the first verge build of a TypeScript or JS component installs it, which needs the npm registry once`,
    fix: 'run verge build in a ts-http app while online (or set VERGE_TOOLCHAIN_DIR to a folder holding it)',
    neededBy,
  };
}

async function appChecks(app: AppConfig, opts: DoctorOptions, rustc: { rustc: string; version: string } | undefined): Promise<CheckResult[]> {
  const out: CheckResult[] = [dataDirCheck(app, opts.dataDir)];
  for (const db of app.databases.values()) out.push(await databaseCheck(app, db.name, db.url, db.variables));
  if (rustc) out.push(...editionChecks(app, rustc));
  return out;
}

/** Where the app's SQLite stores go must be writable (or creatable), as verge up --data-dir resolves it. */
function dataDirCheck(app: AppConfig, dataDir: string): CheckResult {
  const dir = path.resolve(app.dir, dataDir);
  let existing = dir;
  while (!existsSync(existing)) existing = path.dirname(existing);
  try {
    accessSync(existing, constants.W_OK);
    return { name: `${app.name} data dir`, status: 'ok', message: existing === dir ? `${dir} is writable` : `${dir} can be created (in ${existing})`, neededBy: [app.name] };
  } catch {
    return { name: `${app.name} data dir`, status: 'fail', message: `${existing} is not writable, so the stores in ${dir} cannot be written`, fix: `chmod u+w ${existing}, or verge up --data-dir DIR (a writable folder)`, neededBy: [app.name] };
  }
}

async function databaseCheck(app: AppConfig, name: string, url: string, variables: readonly string[]): Promise<CheckResult> {
  const check = `${app.name} databases.${name}`;
  if (variables.length > 0) return { name: check, status: 'warn', message: `its url uses ${variables.map((v) => `{{ ${v} }}`).join(', ')}: not checked here`, fix: 'check it with verge up, whose start connects', neededBy: [] };
  const address = parsePgUrl(url);
  if (typeof address === 'string') return { name: check, status: 'fail', message: `the url is not ${address}`, fix: 'verge check lists the problem', neededBy: [app.name] };
  const where = `${address.hostname}:${address.port}`;
  const error = await connect(address.hostname.replace(/^\[|\]$/g, ''), address.port);
  if (!error) return { name: check, status: 'ok', message: `PostgreSQL at ${where} accepts connections`, neededBy: [app.name] };
  return { name: check, status: 'fail', message: `PostgreSQL at ${where} cannot be reached: ${error}`, fix: `start it (systemctl start postgresql) or correct [databases.${name}] url`, neededBy: [app.name] };
}

function connect(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(DOCTOR_LIMITS.connectMs, () => socket.destroy(new Error(`no answer within ${DOCTOR_LIMITS.connectMs / 1000} s`)));
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Debian's cargo predates edition 2024 (Rust 1.85): a crate asking for it does not build. */
function editionChecks(app: AppConfig, rustc: { rustc: string; version: string }): CheckResult[] {
  const out: CheckResult[] = [];
  const minor = Number(/rustc 1\.(\d+)/.exec(rustc.version)?.[1] ?? NaN);
  for (const c of app.components.values()) {
    if (c.build?.kind !== 'command') continue;
    const toml = path.join(c.build.workdir, 'Cargo.toml');
    if (!existsSync(toml)) continue;
    const edition = /^\s*edition\s*=\s*"(\d+)"/m.exec(readFileSync(toml, 'utf8'))?.[1];
    if (edition !== '2024' || !(minor < 85)) continue;
    out.push({ name: `${app.name} ${c.name} edition`, status: 'fail', message: `${toml} asks for edition 2024, which ${rustc.rustc} (${rustc.version}) does not know (it needs Rust 1.85)`, fix: `edition = "2021" in ${toml}`, neededBy: [app.name] });
  }
  return out;
}

/** The address verge up would serve on is free now (binding it, then letting go at once). */
async function portCheck(listen: string, neededBy: string[]): Promise<CheckResult> {
  const { host, port } = parseListen(listen);
  const error = await new Promise<string | undefined>((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (!error) return { name: 'listen', status: 'ok', message: `${listen} is free`, neededBy };
  const fix = error === 'EADDRINUSE' ? `stop what listens there (ss -ltnp 'sport = :${port}' names it), or verge up --listen ${host}:OTHER_PORT` : `verge up --listen HOST:PORT with an address this machine has`;
  return { name: 'listen', status: 'fail', message: `${listen} cannot be bound: ${error}`, fix, neededBy };
}
