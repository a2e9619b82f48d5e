/**
 * The `components` part: wasi:http components built from TypeScript/JavaScript by `verge build`
 * (ComponentizeJS, a ~13 MB component carrying a JS engine), under Verge with a fresh instance per
 * request and with `instance_reuse = 100`, beside jco's reference server and, for scale, the
 * AssemblyScript WAGI module. One request kind per server, all in one run:
 *
 * - users-api (examples/users-api), `GET /api/users/:id` of a user POSTed before the run: one
 *   key-value `open` + `get` on the SQLite store per request. Verge only (jco serve has no
 *   wasi:keyvalue). Two temp manifests point at one copy of users.wasm, each with its own data dir.
 * - portable (test/fixtures/components/portable.js, wasi:http only), `GET /health`: under Verge
 *   fresh and reused, and under `jco serve --isolate-requests instance` (a fresh instance per
 *   request too), so the peer comparison is one component, one endpoint, one instance policy.
 *   `verge build` componentizes it against wasi:http/proxy alone (the handler imports nothing
 *   else), so jco serve runs it as it is.
 * - hello (examples/hello, AssemblyScript WAGI), `GET /api/hello`: Verge only, for reference.
 *
 * Rounds alternate like the load part: per round and connection count every server gets a
 * warm-up, then a measured `wrk -t1 -cN --latency` run; the first server rotates per round; the
 * figures are the median round by req/s.
 *
 * Knobs: BENCH_COMPONENTS_SECONDS (5), BENCH_COMPONENTS_ROUNDS (2), BENCH_COMPONENTS_WARMUP (2 s),
 * BENCH_COMPONENTS_CONNECTIONS ("1,16"), BENCH_COMPONENTS_REUSE (100). BENCH_COMPONENTS_BASELINE: the
 * bin/verge.js of another Verge build (e.g. the commit before a change, built in a temp folder):
 * users-api and portable with fresh instances run under it too, in the same rounds, for a
 * before/after from one run. About 3.5 minutes with the
 * defaults on 2 cores (6 servers × 2 connection counts × 2 rounds × 7 s, plus builds and start-ups).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { jcoCliPath } from '../../src/cli/toolchain.js';
import { childEnv, freePort, intEnv, pollUntil200, sleep, startChild, stopChild, type Child } from './proc.js';
import { runWrk, type WrkResult } from './wrk.js';
import { fmtInt, fmtMs, fmtRatio, medianBy, table } from './report.js';
import type { ResizeConfig } from './resize.js';

/** What the part needs from the harness: the same as the resize part. */
export type ComponentsConfig = ResizeConfig;

/** `jco serve ... --isolate-requests instance`: jco's reference server, a fresh instance per request. */
export function jcoServeArgs(jcoCli: string, wasm: string, port: number): string[] {
  return [jcoCli, 'serve', wasm, '--host', '127.0.0.1', '--port', String(port), '--isolate-requests', 'instance'];
}

type Key = 'users-fresh' | 'users-reused' | 'portable-fresh' | 'portable-reused' | 'portable-jco' | 'hello' | 'users-fresh-baseline' | 'portable-fresh-baseline';

interface Server {
  key: Key;
  label: string;
  /** What one request does. */
  work: string;
  child: Child;
  /** jco serve runs its server in a process it spawns: stop the whole group. */
  group: boolean;
  url: string;
  rounds: Map<number, WrkResult[]>;
}

interface Artifact {
  file: string;
  bytes: number;
  sha: string;
}

export interface ComponentsResults {
  seconds: number;
  warmup: number;
  rounds: number;
  reuse: number;
  connections: number[];
  artifacts: Record<'users' | 'portable' | 'hello', Artifact>;
  servers: Array<Omit<Server, 'child'>>;
  jcoVersion: string;
  vergeWorkers: number;
  /** BENCH_COMPONENTS_BASELINE, when set. */
  baseline: string | undefined;
}

function artifact(root: string, file: string): Artifact {
  const bytes = readFileSync(file);
  return { file: path.relative(root, file), bytes: bytes.length, sha: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}

function verge(cfg: ComponentsConfig, args: string[], what: string, timeoutMs = 600_000): void {
  const r = spawnSync(process.execPath, [cfg.vergeBin, ...args], { cwd: cfg.root, env: childEnv(), encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (r.error || r.status !== 0) throw new Error(`${what} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stdout}\n${r.stderr}`);
}

function componentManifest(name: string, wasm: string, route: string, extra: string[]): string {
  return ['[application]', `name = "${name}"`, '', '[[route]]', `path = "${route}"`, `component = "${name}"`, '', `[component.${name}]`, `source = ${JSON.stringify(wasm)}`, ...extra, ''].join(
    '\n',
  );
}

function ask(url: string, method: string, body?: string, timeoutMs = 30_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request(url, { method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** SIGTERM to the process group led by the child (started `detached`), SIGKILL to what is left after 5 s. */
export async function stopGroup(child: Child): Promise<void> {
  signalGroup(child.pid, 'SIGTERM');
  for (let waited = 0; groupAlive(child.pid) && waited < 5000; waited += 50) await sleep(50);
  if (groupAlive(child.pid)) signalGroup(child.pid, 'SIGKILL');
  await stopChild(child, 1000);
}

async function stopServer(s: { child: Child; group: boolean }): Promise<void> {
  await (s.group ? stopGroup(s.child) : stopChild(s.child));
}

export async function componentsPhase(cfg: ComponentsConfig): Promise<ComponentsResults> {
  const seconds = intEnv('BENCH_COMPONENTS_SECONDS', 5);
  const rounds = intEnv('BENCH_COMPONENTS_ROUNDS', 2);
  const warmup = intEnv('BENCH_COMPONENTS_WARMUP', 2);
  const reuse = intEnv('BENCH_COMPONENTS_REUSE', 100);
  const connections = (process.env.BENCH_COMPONENTS_CONNECTIONS ?? '1,16').split(',').map((s) => Number(s.trim()));
  if (connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1000)) throw new Error(`BENCH_COMPONENTS_CONNECTIONS: ${process.env.BENCH_COMPONENTS_CONNECTIONS}`);

  const dir = path.join(cfg.work, 'components');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  // Builds. Each built file is copied into bench/.work so a concurrent rebuild cannot swap it mid-run.
  cfg.log('components: verge build examples/users-api, examples/hello and the portable fixture');
  verge(cfg, ['build', 'examples/users-api'], 'verge build examples/users-api');
  verge(cfg, ['build', 'examples/hello'], 'verge build examples/hello');
  const portableSrc = path.join(dir, 'portable-src');
  mkdirSync(portableSrc, { recursive: true });
  copyFileSync(path.join(cfg.root, 'test', 'fixtures', 'components', 'portable.js'), path.join(portableSrc, 'portable.js'));
  writeFileSync(
    path.join(portableSrc, 'verge.toml'),
    componentManifest('portable', 'portable.wasm', '/...', ['', '[component.portable.build]', 'typescript = "portable.js"']),
  );
  verge(cfg, ['build', portableSrc], 'verge build of the portable fixture');
  const usersWasm = path.join(dir, 'users.wasm');
  const portableWasm = path.join(dir, 'portable.wasm');
  copyFileSync(path.join(cfg.root, 'examples', 'users-api', 'users.wasm'), usersWasm);
  copyFileSync(path.join(portableSrc, 'portable.wasm'), portableWasm);
  const helloDir = path.join(cfg.root, 'examples', 'hello');
  const artifacts = {
    users: artifact(cfg.root, usersWasm),
    portable: artifact(cfg.root, portableWasm),
    hello: artifact(cfg.root, path.join(helloDir, 'build', 'hello.wasm')),
  };

  const baseline = process.env.BENCH_COMPONENTS_BASELINE ? path.resolve(process.env.BENCH_COMPONENTS_BASELINE) : undefined;
  const manifests: Record<Exclude<Key, 'portable-jco' | 'hello' | `${string}-baseline`>, string> = {
    'users-fresh': componentManifest('users', usersWasm, '/api/...', ['key_value_stores = ["users"]', '', '[key_value_stores.users]', 'backend = "sqlite"']),
    'users-reused': componentManifest('users', usersWasm, '/api/...', [`instance_reuse = ${reuse}`, 'key_value_stores = ["users"]', '', '[key_value_stores.users]', 'backend = "sqlite"']),
    'portable-fresh': componentManifest('portable', portableWasm, '/...', []),
    'portable-reused': componentManifest('portable', portableWasm, '/...', [`instance_reuse = ${reuse}`]),
  };
  const jcoCli = await jcoCliPath(cfg.log);
  const jcoVersion = (JSON.parse(readFileSync(path.join(path.dirname(jcoCli), '..', 'package.json'), 'utf8')) as { version: string }).version;

  const servers: Server[] = [];
  // A harness killed by a signal stops its direct children (proc.ts); jco's own child is in their group.
  const killGroups = () => servers.filter((s) => s.group).forEach((s) => signalGroup(s.child.pid, 'SIGKILL'));
  process.on('exit', killGroups);
  try {
    const start = async (key: Key, label: string, work: string, urlPath: string): Promise<Server> => {
      const port = await freePort();
      let child: Child;
      if (key === 'portable-jco') {
        child = cfg.track(startChild('jco serve', process.execPath, jcoServeArgs(jcoCli, portableWasm, port), { cwd: dir, detached: true }));
      } else {
        let app = helloDir;
        const args: string[] = [];
        const isBaseline = key.endsWith('-baseline');
        if (key !== 'hello') {
          app = path.join(dir, key);
          mkdirSync(app, { recursive: true });
          writeFileSync(path.join(app, 'verge.toml'), manifests[key.replace(/-baseline$/, '') as keyof typeof manifests]);
          args.push('--data-dir', path.join(app, 'data'));
        }
        const bin = isBaseline ? baseline! : cfg.vergeBin;
        child = cfg.track(
          startChild(`verge (${key})`, process.execPath, [bin, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...args, ...cfg.vergeWorkerArgs], {
            cwd: cfg.root,
          }),
        );
      }
      const s: Server = { key, label, work, child, group: key === 'portable-jco', url: `http://127.0.0.1:${port}${urlPath}`, rounds: new Map() };
      servers.push(s);
      const ready = await pollUntil200(child, `http://127.0.0.1:${port}${key.startsWith('users') ? '/api/health' : key === 'hello' ? '/api/hello' : '/health'}`, 90_000, 20);
      for (const n of ready.non200) cfg.notes.push(`components: ${label} answered \`${n.slice(0, 160)}\` while starting up.`);
      return s;
    };

    const usersKeys = baseline ? (['users-fresh', 'users-reused', 'users-fresh-baseline'] as const) : (['users-fresh', 'users-reused'] as const);
    for (const key of usersKeys) {
      const label = key === 'users-fresh' ? 'Verge, users-api, fresh instance' : key === 'users-fresh-baseline' ? 'Verge baseline, users-api, fresh instance' : `Verge, users-api, instance_reuse = ${reuse}`;
      // The user must exist before the server is registered with its URL: start, seed, then set the path.
      const s = await start(key, label, 'GET /api/users/:id: KV open + get (SQLite)', '/api/users/');
      const created = await ask(s.url.replace(/\/api\/users\/$/, '/api/users'), 'POST', JSON.stringify({ name: 'Bench User', email: 'bench@example.com' }));
      if (created.status !== 201) throw new Error(`${label}: POST /api/users answered ${created.status} ${created.body}`);
      const id = (JSON.parse(created.body) as { id: string }).id;
      s.url += id;
      const got = await ask(s.url, 'GET');
      if (got.status !== 200 || (JSON.parse(got.body) as { id?: string }).id !== id) throw new Error(`${label}: GET /api/users/${id} answered ${got.status} ${got.body}`);
    }
    await start('portable-fresh', 'Verge, portable, fresh instance', 'GET /health: wasi:http only', '/health');
    await start('portable-reused', `Verge, portable, instance_reuse = ${reuse}`, 'GET /health: wasi:http only', '/health');
    if (baseline) await start('portable-fresh-baseline', 'Verge baseline, portable, fresh instance', 'GET /health: wasi:http only', '/health');
    await start('portable-jco', `jco serve ${jcoVersion}, portable, --isolate-requests instance`, 'GET /health: wasi:http only', '/health');
    await start('hello', 'Verge, hello (AssemblyScript WAGI), fresh instance', 'GET /api/hello', '/api/hello');
    for (const s of servers) {
      const r = await ask(s.url, 'GET');
      const ok = s.key === 'hello' ? r.body === '{"message":"Hello from Wasm!"}' : s.key.startsWith('users') ? r.body.includes('"Bench User"') : r.body === '{"status":"ok"}';
      if (r.status !== 200 || !ok) throw new Error(`${s.label}: GET ${s.url} answered ${r.status} ${r.body.slice(0, 300)}`);
    }
    cfg.log(`components: ${servers.length} servers up; ${rounds} rounds × c${connections.join('/c')} × ${seconds} s (warm-up ${warmup} s)`);

    const total = rounds * connections.length * servers.length;
    let done = 0;
    for (let round = 0; round < rounds; round++) {
      for (const c of connections) {
        const order = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)];
        for (const s of order) {
          const warm = await runWrk(s.url, c, warmup);
          const r = await runWrk(s.url, c, seconds);
          done++;
          if (s.child.proc.exitCode !== null || s.child.proc.signalCode !== null) throw new Error(`${s.label} exited during the run\n${s.child.stderr().slice(-2000)}`);
          const errors = warm.non2xx + warm.socketErrors + r.non2xx + r.socketErrors;
          if (errors > 0) {
            cfg.notes.push(`components: ${s.label}, c${c}, round ${round + 1}: ${warm.non2xx}/${warm.socketErrors} non-2xx/socket errors in the warm-up, ${r.non2xx}/${r.socketErrors} in the measurement.`);
          }
          const list = s.rounds.get(c) ?? [];
          list.push(r);
          s.rounds.set(c, list);
          cfg.log(`components [${done}/${total}] round ${round + 1} c${c} ${s.label}: ${fmtInt(r.rps)} req/s, p50 ${fmtMs(r.p50)}, p99 ${fmtMs(r.p99)}${errors ? `, ${errors} errors` : ''}`);
        }
      }
    }
  } finally {
    await Promise.all(servers.map((s) => stopServer(s)));
    process.off('exit', killGroups);
  }
  return {
    seconds,
    warmup,
    rounds,
    reuse,
    connections,
    artifacts,
    servers: servers.map(({ child: _child, ...rest }) => rest),
    jcoVersion,
    vergeWorkers: cfg.vergeWorkers,
    baseline: baseline && path.relative(cfg.root, baseline),
  };
}

export function renderComponents(r: ComponentsResults): string {
  const out: string[] = [];
  const by = (k: Key) => r.servers.find((s) => s.key === k)!;
  const med = (k: Key, c: number) => {
    const list = by(k).rounds.get(c);
    return list && list.length ? medianBy(list, (x) => x.rps) : undefined;
  };
  out.push('### wasi:http components (TypeScript/JS) beside jco serve, and the AssemblyScript WAGI module');
  out.push('');
  out.push(
    `- Components built by \`verge build\` (ComponentizeJS 0.23): users-api ${fmtInt(r.artifacts.users.bytes)} bytes (sha256 ${r.artifacts.users.sha}…), ` +
      `portable (test/fixtures/components/portable.js, wasi:http only) ${fmtInt(r.artifacts.portable.bytes)} bytes (${r.artifacts.portable.sha}…); ` +
      `examples/hello/build/hello.wasm ${fmtInt(r.artifacts.hello.bytes)} bytes (${r.artifacts.hello.sha}…).`,
  );
  out.push(
    `- Verge: \`verge up <temp manifest> --log-level warn\`, at most ${r.vergeWorkers} workers (elastic, 1 kept idle); fresh = the default (a new instance per request), reused = \`instance_reuse = ${r.reuse}\`. ` +
      `users-api: \`GET /api/users/:id\` of a user POSTed before the run (one wasi:keyvalue open + get on SQLite, each server its own data dir). ` +
      `portable: \`GET /health\` (a 15-byte JSON answer). hello: \`GET /api/hello\`.`,
  );
  out.push(
    `- jco serve ${r.jcoVersion} (Verge's pinned toolchain): \`jco serve portable.wasm --isolate-requests instance\`, a fresh instance per request ` +
      `on one Node main thread. jco serve cannot run users-api (it needs wasi:keyvalue) or hello (WAGI).`,
  );
  out.push(
    `- \`wrk -t1 -cN -d${r.seconds}s --latency\` after a ${r.warmup} s warm-up, ${r.rounds} rounds per connection count, all ${r.servers.length} servers alternating (first server rotated per round); ` +
      `the median round by req/s${r.rounds === 2 ? ' (of two, the slower)' : ''}. Ratios are from this one run. This part alone: \`BENCH_ONLY=components npm run bench\`.`,
  );
  if (r.baseline) out.push(`- Verge baseline: \`${r.baseline}\` (BENCH_COMPONENTS_BASELINE), the same manifests and worker count, in the same rounds.`);
  out.push('');
  const rows: string[][] = [];
  for (const c of r.connections) {
    for (const s of r.servers) {
      const list = s.rounds.get(c) ?? [];
      const m = med(s.key, c);
      if (!m) continue;
      const rps = list.map((x) => x.rps);
      const errors = list.reduce((a, x) => a + x.non2xx + x.socketErrors, 0);
      rows.push([`c${c}`, s.label, s.work, fmtInt(m.rps), `${fmtInt(Math.min(...rps))}–${fmtInt(Math.max(...rps))}`, fmtMs(m.p50), fmtMs(m.p99), String(errors)]);
    }
  }
  out.push(table(['conns', 'server', 'request', 'req/s', 'req/s range', 'p50', 'p99', 'errors'], rows, ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r']));
  out.push('');
  const ratio = (a: Key, b: Key, c: number, f: (x: WrkResult) => number) => {
    const x = med(a, c);
    const y = med(b, c);
    return x && y ? f(x) / f(y) : NaN;
  };
  const rRows: string[][] = [];
  const pairs: Array<[Key, Key, string]> = [
    ...(r.baseline
      ? ([
          ['portable-fresh', 'portable-fresh-baseline', 'portable, fresh instance: Verge ÷ Verge baseline'],
          ['users-fresh', 'users-fresh-baseline', 'users-api, fresh instance: Verge ÷ Verge baseline'],
        ] as Array<[Key, Key, string]>)
      : []),
    ['portable-fresh', 'portable-jco', 'portable: Verge fresh ÷ jco serve (both a fresh instance per request)'],
    ['portable-reused', 'portable-jco', `portable: Verge instance_reuse = ${r.reuse} ÷ jco serve`],
    ['portable-reused', 'portable-fresh', `portable on Verge: reused ÷ fresh`],
    ['users-reused', 'users-fresh', `users-api on Verge: reused ÷ fresh`],
    ['users-fresh', 'portable-fresh', 'Verge fresh: users-api (KV read) ÷ portable (no KV)'],
    ['hello', 'portable-fresh', 'Verge fresh: hello (AssemblyScript WAGI) ÷ portable (JS component)'],
  ];
  for (const c of r.connections) {
    for (const [a, b, what] of pairs) {
      rRows.push([`c${c}`, what, fmtRatio(ratio(a, b, c, (x) => x.rps)), fmtRatio(ratio(a, b, c, (x) => x.p50)), fmtRatio(ratio(a, b, c, (x) => x.p99))]);
    }
  }
  out.push(table(['conns', 'ratio', 'req/s', 'p50', 'p99'], rRows, ['l', 'l', 'r', 'r', 'r']));
  out.push('');
  return out.join('\n');
}
