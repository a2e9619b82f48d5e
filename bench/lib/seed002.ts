/**
 * The `seed002` part: seed 002's benchmark table (a JSON API in Rust+Wasm on PostgreSQL with a
 * Redis cache) for examples/users-pg under Verge, beside a plain Node peer doing the same
 * queries with `pg` and `ioredis` (bench/peers/users-pg-node.ts), in one run.
 *
 * A real PostgreSQL and redis-server (test/support's helpers: free loopback ports, temp folders,
 * stopped by PID) hold BENCH_SEED002_USERS users. Three paths:
 *  - `GET /api/hello`: no I/O, the seed's "simple JSON API".
 *  - `GET /api/users/1`, cache hit: the same id every time, so Redis answers and PostgreSQL is not asked.
 *  - `GET /api/users/:id`, cache miss: a wrk script walks the ids 1, 2, 3, … over a table larger
 *    than one run reads, after FLUSHDB, so every request is GET (nil) → SELECT → SET EX, the
 *    path a cold cache takes. Redis's keyspace_hits/keyspace_misses over each measured run check
 *    it (and the hit path's) rather than trusting the design.
 * Cold start: spawn → first 200 of that path, median of BENCH_SEED002_STARTUP_RUNS fresh
 * processes (NODE_EXTRA_CA_CERTS removed; the cache flushed first for the user path, so the
 * first request opens both pools). Load: `wrk -t1 -c50 -d10s --latency` after a warm-up, the two
 * servers alternating per round; the median round by req/s. RSS of each server after the runs.
 *
 * Knobs: BENCH_SEED002_SECONDS (10), BENCH_SEED002_WARMUP (3 s), BENCH_SEED002_ROUNDS (2),
 * BENCH_SEED002_CONNECTIONS (50), BENCH_SEED002_USERS (100000), BENCH_SEED002_STARTUP_RUNS (3),
 * BENCH_SEED002_TTL (60 s, both servers).
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { startPostgres, type PostgresServer } from '../../test/support/postgres.js';
import { startRedis, type RedisServer } from '../../test/support/redis-server.js';
import { childEnv, freePort, httpGet, intEnv, pollUntil200, readMemory, sleep, startChild, stopChild, type Child } from './proc.js';
import { runWrk, type WrkResult } from './wrk.js';
import { fmtInt, fmtMiB, fmtMs, fmtRatio, median, medianBy, table } from './report.js';
import type { ResizeConfig } from './resize.js';

export type Seed002Config = ResizeConfig;

type ServerKey = 'verge' | 'node';
type PathKey = 'hello' | 'hit' | 'miss';

const PATHS: Array<{ key: PathKey; label: string; url: string }> = [
  { key: 'hello', label: 'GET /api/hello', url: '/api/hello' },
  { key: 'hit', label: 'GET /api/users/:id, cache hit', url: '/api/users/1' },
  { key: 'miss', label: 'GET /api/users/:id, cache miss', url: '/api/users/1' },
];

const APP_PASSWORD = 'bench-users-app-3f9a';

interface Measured {
  wrk: WrkResult;
  /** Redis's keyspace hits and misses during the measured run. */
  hits: number;
  misses: number;
}

interface ServerResult {
  key: ServerKey;
  label: string;
  /** Spawn → first 200, ms, per run, by path (hello, and the user path for hit/miss). */
  coldHello: number[];
  coldUser: number[];
  runs: Map<PathKey, Measured[]>;
  rssKiB: number;
}

export interface Seed002Results {
  seconds: number;
  warmup: number;
  rounds: number;
  connections: number;
  users: number;
  ttl: number;
  startupRuns: number;
  vergeWorkers: number;
  servers: ServerResult[];
  versions: { postgres: string; redis: string };
  loadBefore: number[];
  loadAfter: number[];
}

/** A wrk script: one thread walking the ids 1..users, so no id is read twice in a run shorter than the table. */
function missScript(work: string, users: number): string {
  const file = path.join(work, 'seed002-miss.lua');
  writeFileSync(
    file,
    ['local id = 0', 'request = function()', `  id = id % ${users} + 1`, '  return wrk.format("GET", "/api/users/" .. id)', 'end', ''].join('\n'),
  );
  return file;
}

async function keyspace(redis: RedisServer): Promise<{ hits: number; misses: number }> {
  const info = await redis.cli('INFO', 'stats');
  const n = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { hits: n('keyspace_hits'), misses: n('keyspace_misses') };
}

const loadavg = (): number[] => os.loadavg().map((n) => Math.round(n * 100) / 100);

interface Server {
  child: Child;
  /** http://127.0.0.1:PORT */
  base: string;
}

export async function seed002Phase(cfg: Seed002Config): Promise<Seed002Results> {
  const seconds = intEnv('BENCH_SEED002_SECONDS', 10);
  const warmup = intEnv('BENCH_SEED002_WARMUP', 3);
  const rounds = intEnv('BENCH_SEED002_ROUNDS', 2);
  const connections = intEnv('BENCH_SEED002_CONNECTIONS', 50);
  const users = intEnv('BENCH_SEED002_USERS', 100_000);
  const startupRuns = intEnv('BENCH_SEED002_STARTUP_RUNS', 3);
  const ttl = intEnv('BENCH_SEED002_TTL', 60);
  const app = path.join(cfg.root, 'examples', 'users-pg');
  const peer = path.join(cfg.root, 'dist', 'bench', 'peers', 'users-pg-node.js');
  const loadBefore = loadavg();

  cfg.log('seed002: building examples/users-pg (verge build examples/users-pg)');
  const build = spawnSync(process.execPath, [cfg.vergeBin, 'build', app], { cwd: cfg.root, env: childEnv(), encoding: 'utf8', timeout: 900_000 });
  if (build.status !== 0) throw new Error(`verge build examples/users-pg failed:\n${build.stdout}\n${build.stderr}`);

  let pg: PostgresServer | undefined;
  let redis: RedisServer | undefined;
  // The helpers' servers are not the harness's children: a harness that dies still stops them.
  const guard = () => {
    for (const [pid, signal] of [[pg?.pid(), 'SIGQUIT'], [redis?.pid, 'SIGKILL']] as const) {
      if (pid)
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
    }
  };
  process.on('exit', guard);
  const children = new Set<Child>();
  try {
    [pg, redis] = await Promise.all([startPostgres({ settings: { shared_buffers: '64MB', max_connections: '100' } }), startRedis()]);
    const versions = {
      postgres: String((await pg.sql('SHOW server_version')).rows[0]?.server_version ?? '?'),
      redis: /redis_version:(\S+)/.exec(await redis.cli('INFO', 'server'))?.[1] ?? '?',
    };
    await pg.sql(`CREATE ROLE users_app LOGIN PASSWORD '${APP_PASSWORD}'`);
    await pg.sql('CREATE DATABASE users OWNER users_app');
    const databaseUrl = `postgres://users_app:${APP_PASSWORD}@127.0.0.1:${pg.port}/users`;
    const vergeEnv = { VERGE_VAR_DB_PASSWORD: APP_PASSWORD, VERGE_VAR_DB_PORT: String(pg.port), VERGE_VAR_REDIS_URL: redis.url, VERGE_VAR_CACHE_TTL_SECONDS: String(ttl) };
    const peerEnv = { DATABASE_URL: databaseUrl, REDIS_URL: redis.url, CACHE_TTL_SECONDS: String(ttl) };

    const start = async (key: ServerKey): Promise<Server> => {
      const port = await freePort();
      const child =
        key === 'verge'
          ? startChild('verge (users-pg)', process.execPath, [cfg.vergeBin, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...cfg.vergeWorkerArgs], { cwd: cfg.root, env: childEnv(vergeEnv) })
          : startChild('node peer (users-pg)', process.execPath, [peer, `127.0.0.1:${port}`], { cwd: cfg.root, env: childEnv(peerEnv) });
      cfg.track(child);
      children.add(child);
      return { child, base: `http://127.0.0.1:${port}` };
    };
    const stop = async ({ child }: Server) => {
      await stopChild(child);
      children.delete(child);
    };

    // The service creates its schema on first use; the users go in after that, the same table for both servers.
    const first = await start('verge');
    await pollUntil200(first.child, `${first.base}/api/users?limit=1`, 60_000, 20);
    await stop(first);
    await pg.sql(`INSERT INTO users (name, email) SELECT 'User ' || g, 'user' || g || '@example.com' FROM generate_series(1, ${users}) g`, [], 'users');
    await pg.sql('VACUUM ANALYZE users', [], 'users');
    cfg.log(`seed002: PostgreSQL ${versions.postgres} on ${pg.port} with ${fmtInt(users)} users, Redis ${versions.redis} on ${redis.port}`);

    const results: ServerResult[] = (['verge', 'node'] as const).map((key) => ({
      key,
      label: key === 'verge' ? 'Verge (examples/users-pg)' : 'Node peer (node:http + pg + ioredis)',
      coldHello: [],
      coldUser: [],
      runs: new Map(),
      rssKiB: NaN,
    }));

    // Cold start: a fresh process per run, alternating servers.
    for (let i = 0; i < startupRuns; i++) {
      for (const r of results) {
        for (const which of ['hello', 'user'] as const) {
          await redis.cli('FLUSHDB');
          const t0 = performance.now();
          const server = await start(r.key);
          try {
            const ok = await pollUntil200(server.child, `${server.base}${which === 'hello' ? '/api/hello' : '/api/users/1'}`, 60_000, 2);
            (which === 'hello' ? r.coldHello : r.coldUser).push(ok.at - t0);
            for (const n of ok.non200) cfg.notes.push(`seed002 cold start: ${r.label} answered \`${n.slice(0, 160)}\` before its first 200.`);
          } finally {
            await stop(server);
          }
        }
      }
    }
    cfg.log(`seed002: cold start ${results.map((r) => `${r.label} hello ${fmtMs(median(r.coldHello))}, user ${fmtMs(median(r.coldUser))}`).join('; ')}`);

    // Load: both servers up, alternating.
    const script = missScript(cfg.work, users);
    const running = new Map<ServerKey, Server>();
    for (const r of results) {
      const server = await start(r.key);
      await pollUntil200(server.child, `${server.base}/api/hello`, 60_000, 10);
      const hit = await httpGet(`${server.base}/api/users/1`);
      if (hit.status !== 200 || !hit.body.includes('"user1@example.com"')) throw new Error(`${r.label}: GET /api/users/1 answered ${hit.status} ${hit.body.slice(0, 200)}`);
      running.set(r.key, server);
    }
    await sleep(1000);
    for (let round = 1; round <= rounds; round++) {
      const order = round % 2 === 1 ? results : [...results].reverse();
      for (const p of PATHS) {
        for (const r of order) {
          const url = `${running.get(r.key)!.base}${p.url}`;
          const wrkScript = p.key === 'miss' ? script : undefined;
          if (p.key === 'miss') await redis.cli('FLUSHDB');
          await runWrk(url, connections, warmup, undefined, wrkScript);
          // wrk leaves up to `connections` requests in flight; they would cache ids the measured run reads.
          await sleep(1000);
          if (p.key === 'miss') await redis.cli('FLUSHDB');
          if (p.key === 'hit') await httpGet(url);
          const before = await keyspace(redis);
          const w = await runWrk(url, connections, seconds, undefined, wrkScript);
          const after = await keyspace(redis);
          const m: Measured = { wrk: w, hits: after.hits - before.hits, misses: after.misses - before.misses };
          r.runs.set(p.key, [...(r.runs.get(p.key) ?? []), m]);
          if (w.non2xx + w.socketErrors > 0) cfg.notes.push(`seed002, ${r.label}, ${p.label}, round ${round}: ${w.non2xx} non-2xx and ${w.socketErrors} socket errors.`);
          cfg.log(`seed002 round ${round} ${r.label} ${p.label}: ${fmtInt(w.rps)} req/s, p50 ${fmtMs(w.p50)}, p99 ${fmtMs(w.p99)}; redis hits ${m.hits}, misses ${m.misses}`);
        }
      }
    }
    for (const r of results) r.rssKiB = readMemory(running.get(r.key)!.child.pid)?.rssKiB ?? NaN;
    return { seconds, warmup, rounds, connections, users, ttl, startupRuns, vergeWorkers: cfg.vergeWorkers, servers: results, versions, loadBefore, loadAfter: loadavg() };
  } finally {
    await Promise.all([...children].map((c) => stopChild(c)));
    await Promise.all([pg?.destroy(), redis?.stop()]);
    process.off('exit', guard);
  }
}

/** Seed 002's published rows ("identical hardware (1 core, 1GB), using wrk to load test a simple JSON API"). */
const SEED_ROWS: string[][] = [
  ['Rust+Wasm (Spin), seed 002', 'simple JSON API', '0.8 ms', '0.9 ms', '2.8 ms', '13,000', '0.5 MB', ''],
  ['Rust+Wasm (WasmEdge), seed 002', 'simple JSON API', '1.2 ms', '0.8 ms', '2.5 ms', '15,000', '0.6 MB', ''],
  ['Node.js (Express), seed 002', 'simple JSON API', '520 ms', '3.2 ms', '12 ms', '3,100', '52 MB', ''],
];

export function renderSeed002(r: Seed002Results): string {
  const out: string[] = [];
  const verge = r.servers.find((s) => s.key === 'verge')!;
  const node = r.servers.find((s) => s.key === 'node')!;
  const pick = (s: ServerResult, p: PathKey) => medianBy(s.runs.get(p) ?? [], (m) => m.wrk.rps);
  out.push('### Seed 002: users-pg (Rust+Wasm on PostgreSQL with a Redis cache) against a plain Node peer');
  out.push('');
  out.push(
    `- Servers: \`verge up examples/users-pg --log-level warn\` (at most ${r.vergeWorkers} workers (elastic, 1 kept idle); \`[databases.main]\` pool_size 10, \`[redis.cache]\`) and bench/peers/users-pg-node.ts ` +
      `(node:http, \`pg\` Pool max 10, one \`ioredis\` connection), the same statement and cache-aside (GET, else SELECT and SET … EX ${r.ttl}); ` +
      `PostgreSQL ${r.versions.postgres} and Redis ${r.versions.redis} started for the run on loopback with ${fmtInt(r.users)} users (fsync off).`,
  );
  out.push(
    `- Paths: hello (no I/O); cache hit: \`GET /api/users/1\` every time; cache miss: a wrk script walking ids 1, 2, 3, … after FLUSHDB, so each request is ` +
      `GET (nil) → SELECT → SET EX. Redis's keyspace counters over the measured runs (hits / misses, median round): ` +
      `hit path Verge ${fmtInt(pick(verge, 'hit').hits)} / ${fmtInt(pick(verge, 'hit').misses)}, node ${fmtInt(pick(node, 'hit').hits)} / ${fmtInt(pick(node, 'hit').misses)}; ` +
      `miss path Verge ${fmtInt(pick(verge, 'miss').hits)} / ${fmtInt(pick(verge, 'miss').misses)}, node ${fmtInt(pick(node, 'miss').hits)} / ${fmtInt(pick(node, 'miss').misses)}.`,
  );
  out.push(
    `- Cold start: spawn → first 200 of the path (for the user paths \`/api/users/1\` with the cache flushed: both pools opened by that request), median of ${r.startupRuns} fresh processes. ` +
      `Load: \`wrk -t1 -c${r.connections} -d${r.seconds}s --latency\` after a ${r.warmup} s warm-up, ${r.rounds} rounds, servers alternating; the median round by req/s. RSS: the server process after all runs.`,
  );
  out.push(
    `- Machine difference: the seed's rows are its published figures for "identical hardware (1 core, 1GB)" and "a simple JSON API", with no wrk settings, ` +
      `and its cold start is the runtime's instantiation, not a process start. Here: 2 shared cores, wrk, PostgreSQL and Redis on the same machine as the server, ` +
      `other sessions' work running (load average ${r.loadBefore.join(' ')} before, ${r.loadAfter.join(' ')} after). Compare the Verge/Node ratios; the seed rows are context.`,
  );
  out.push('');
  const rows: string[][] = [];
  for (const p of PATHS) {
    for (const s of [verge, node]) {
      const m = pick(s, p.key);
      const cold = p.key === 'hello' ? s.coldHello : s.coldUser;
      const range = (s.runs.get(p.key) ?? []).map((x) => x.wrk.rps);
      rows.push([
        s.label,
        p.label,
        fmtMs(median(cold)),
        fmtMs(m.wrk.p50),
        fmtMs(m.wrk.p99),
        `${fmtInt(m.wrk.rps)} (${fmtInt(Math.min(...range))}–${fmtInt(Math.max(...range))})`,
        fmtMiB(s.rssKiB),
        s === verge ? fmtRatio(m.wrk.rps / pick(node, p.key).wrk.rps) : '',
      ]);
    }
  }
  rows.push(...SEED_ROWS);
  out.push(table(['server', 'path', 'cold start', 'p50', 'p99', `QPS c${r.connections} (range)`, 'RSS after', 'Verge / Node QPS'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push('');
  return out.join('\n');
}
