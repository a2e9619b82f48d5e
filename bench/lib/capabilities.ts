/**
 * Capability benchmarks (verge:v1): key-value on the SQLite backend and outbound HTTP, each from
 * a WAT guest served by `verge up DIR --workers 1 --log-level warn`, against the same work done
 * directly in the bench process.
 *
 * KV: guests that do K kv_get / kv_set calls per request (keys "k0".."k{K-1}", 100-byte values),
 *     and the same guest with K = 0 (kv_open only) for the per-request overhead. Beside them, in
 *     the bench process: openSqliteStore (src/backends/sqlite, the store the worker uses) doing the
 *     same K ops on its own fresh file; for context a plain better-sqlite3 connection with
 *     synchronous=NORMAL (no fsync per commit) and a bare append+fdatasync loop (the disk's floor).
 * Outbound: a guest doing N http_send GETs per request to a node:http origin on 127.0.0.1, and the
 *     same guest with N = 0; beside them, N calls per round of sendOutbound() in-process (Verge's
 *     main-thread code without the worker bridge), undici with a fresh Client per call (what Verge
 *     does, for address pinning) and undici request() through the pooled global dispatcher.
 *
 * Every kind of measurement runs once per round, rounds interleave them (order rotated per round),
 * so load drifting on a shared machine hits all of them alike. Warm-up rounds are not counted.
 */
import { randomFillSync } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Client, request as undiciRequest } from 'undici';
import { openSqliteStore, type SqliteStore } from '../../src/backends/sqlite/index.js';
import { createOutboundPolicy, sendOutbound, DEFAULT_OUTBOUND_LIMITS, DEFAULT_MAX_OUTBOUND_REQUESTS } from '../../src/capabilities/outbound-http/index.js';
import { KV_VALUE_BYTES, kvLoop, outboundLoop } from './guests.js';
import { freePort, pollUntil200, startChild, stopChild, threadCpuNs, type Child } from './proc.js';
import { fmtInt, fmtMs, fmtRatio, median, table } from './report.js';

export interface CapConfig {
  root: string;
  work: string;
  vergeBin: string;
  nodePeer: string;
  kvOps: number;
  kvRequests: number;
  outboundCalls: number;
  outboundRequests: number;
  warmupRounds: number;
  log: (line: string) => void;
  notes: string[];
  /** Registers a child so the harness stops it even on failure. */
  track: (c: Child) => Child;
}

const HELLO_PATH = '/api/hello';
const HELLO_BODY_BYTES = Buffer.byteLength('{"message":"Hello from Wasm!"}');
const KV_TARGET_OPS = 20_000;

// ---------------------------------------------------------------------------------------------
// Samples

interface Sample {
  /** Wall time of each counted round, ms. */
  ms: number[];
  /** CPU of the Verge process over the counted rounds, by thread role, ns (schedstat). */
  vergeNs: { main: number; busiest: number; other: number };
  /** CPU of the bench process per counted round (µs, process.cpuUsage user+system). */
  benchCpuUs: number;
}

const newSample = (): Sample => ({ ms: [], vergeNs: { main: 0, busiest: 0, other: 0 }, benchCpuUs: 0 });
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => (xs.length ? sum(xs) / xs.length : NaN);
const fmtUs = (ms: number) => (Number.isFinite(ms) ? `${(ms * 1000).toFixed(ms < 0.01 ? 2 : ms < 1 ? 1 : 0)} µs` : 'n/a');
const rotate = <T>(xs: T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]!);

/** Runs `fn`, adds its wall time, the bench process's CPU and (optionally) Verge's per-thread CPU to `s`. */
async function timed(s: Sample | undefined, verge: Child | undefined, fn: () => Promise<void>): Promise<void> {
  const t0 = verge && s ? threadCpuNs(verge.pid) : undefined;
  const c0 = process.cpuUsage();
  const a = performance.now();
  await fn();
  const b = performance.now();
  const c1 = process.cpuUsage(c0);
  if (!s) return;
  s.ms.push(b - a);
  s.benchCpuUs += c1.user + c1.system;
  if (verge && t0) {
    const t1 = threadCpuNs(verge.pid);
    let busiest = 0;
    let other = 0;
    let main = 0;
    for (const [tid, ticks] of t1) {
      const d = ticks - (t0.get(tid) ?? 0);
      if (tid === verge.pid) main += d;
      else {
        other += d;
        busiest = Math.max(busiest, d);
      }
    }
    // "busiest" is accumulated per round: with one worker, the busiest non-main thread is the worker.
    s.vergeNs.main += main;
    s.vergeNs.busiest += busiest;
    s.vergeNs.other += other - busiest;
  }
}

// ---------------------------------------------------------------------------------------------
// The app and its servers

interface CapServers {
  dir: string;
  verge: Child;
  vergeUrl: string;
  vergeClient: Client;
  origin: Child;
  originUrl: string;
  stop(): Promise<void>;
}

async function writeApp(cfg: CapConfig, originUrl: string): Promise<string> {
  const dir = path.join(cfg.work, 'caps');
  // A fresh app folder every run, so the SQLite file (.verge/data/default.sqlite) starts empty.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const components: Array<{ name: string; route: string; wasm: Uint8Array; extra: string }> = [
    { name: 'kv-get', route: '/kv/get', wasm: await kvLoop('get', 'default', cfg.kvOps), extra: 'key_value_stores = ["default"]' },
    { name: 'kv-set', route: '/kv/set', wasm: await kvLoop('set', 'default', cfg.kvOps), extra: 'key_value_stores = ["default"]' },
    { name: 'kv-none', route: '/kv/none', wasm: await kvLoop('get', 'default', 0), extra: 'key_value_stores = ["default"]' },
    {
      name: 'out-calls',
      route: '/out/calls',
      wasm: await outboundLoop('target', cfg.outboundCalls),
      extra: 'variables = ["target"]\nallowed_outbound_hosts = ["http://127.0.0.1:*"]',
    },
    { name: 'out-none', route: '/out/none', wasm: await outboundLoop('target', 0), extra: 'variables = ["target"]\nallowed_outbound_hosts = ["http://127.0.0.1:*"]' },
  ];
  const toml: string[] = ['[application]', 'name = "bench-caps"', ''];
  for (const c of components) {
    writeFileSync(path.join(dir, `${c.name}.wasm`), c.wasm);
    toml.push('[[route]]', `path = "${c.route}"`, `component = "${c.name}"`, '');
    toml.push(`[component.${c.name}]`, `source = "${c.name}.wasm"`, c.extra, 'limits = { timeout_ms = 120000 }', '');
  }
  toml.push('[variables]', `target = { default = "${originUrl}${HELLO_PATH}" }`, '');
  writeFileSync(path.join(dir, 'verge.toml'), toml.join('\n'));
  return dir;
}

async function startServers(cfg: CapConfig): Promise<CapServers> {
  const originPort = await freePort();
  const originUrl = `http://127.0.0.1:${originPort}`;
  const origin = cfg.track(startChild('origin (node:http)', process.execPath, [cfg.nodePeer, `127.0.0.1:${originPort}`], { cwd: cfg.root }));
  let verge: Child | undefined;
  try {
    await pollUntil200(origin, `${originUrl}${HELLO_PATH}`, 30_000, 10);
    const dir = await writeApp(cfg, originUrl);
    const port = await freePort();
    const vergeUrl = `http://127.0.0.1:${port}`;
    verge = cfg.track(
      startChild('verge (capabilities)', process.execPath, [cfg.vergeBin, 'up', dir, '--listen', `127.0.0.1:${port}`, '--workers', '1', '--log-level', 'warn'], { cwd: cfg.root }),
    );
    await pollUntil200(verge, `${vergeUrl}/kv/none`, 30_000, 10);
    const vergeClient = new Client(vergeUrl, { pipelining: 1 });
    const v = verge;
    return {
      dir,
      verge: v,
      vergeUrl,
      vergeClient,
      origin,
      originUrl,
      async stop() {
        await vergeClient.close().catch(() => {});
        await Promise.all([stopChild(v), stopChild(origin)]);
      },
    };
  } catch (err) {
    await Promise.all([verge ? stopChild(verge) : undefined, stopChild(origin)]);
    throw err;
  }
}

/** One GET to Verge on the kept-alive connection; checks `200 ok <expected>`. */
async function vergeGet(s: CapServers, urlPath: string, expected: number): Promise<void> {
  const res = await s.vergeClient.request({ method: 'GET', path: urlPath, headersTimeout: 120_000, bodyTimeout: 120_000 });
  const body = await res.body.text();
  if (res.statusCode !== 200 || body !== `ok ${expected}`) {
    throw new Error(`verge GET ${urlPath} answered ${res.statusCode} ${JSON.stringify(body.slice(0, 300))}, expected 200 "ok ${expected}"\n${s.verge.stderr().slice(-2000)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// KV

export interface KvResult {
  ops: number;
  requests: number;
  file: string;
  verge: { get: Sample; set: Sample; none: Sample };
  raw: { get: Sample; set: Sample; setNormal: Sample; fsync: Sample };
  rawSettings: string;
  /** The K=0 guest requested back to back (threads kept busy), ms per request. */
  hotBaseline: number[];
}

const HOT_REQUESTS = 200;

/** `count` requests back to back (after 20 unrecorded), wall time of each: the per-request cost with Verge's threads kept awake. */
async function backToBack(s: CapServers, urlPath: string, count: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count + 20; i++) {
    const a = performance.now();
    await vergeGet(s, urlPath, 0);
    if (i >= 20) ms.push(performance.now() - a);
  }
  return ms;
}

function rawKeys(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `k${i}`);
}

async function kvPhase(cfg: CapConfig, s: CapServers): Promise<KvResult> {
  const K = cfg.kvOps;
  const rawDir = path.join(cfg.work, 'kv-raw');
  rmSync(rawDir, { recursive: true, force: true });
  mkdirSync(rawDir, { recursive: true });
  const store: SqliteStore = openSqliteStore(path.join(rawDir, 'raw.sqlite'));
  // Context only: the same table and WAL, but synchronous=NORMAL (no fsync at each commit).
  const normal = new Database(path.join(rawDir, 'normal.sqlite'));
  normal.pragma('journal_mode = WAL');
  normal.pragma('synchronous = NORMAL');
  normal.exec('CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
  const upsertNormal = normal.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
  const fsyncFd = openSync(path.join(rawDir, 'fsync.bin'), 'w');
  const keys = rawKeys(K);
  // Like the guest: 8 random bytes per round, then i, so every set changes the row (see kvLoop).
  const value = new Uint8Array(KV_VALUE_BYTES).fill(97);
  const valueView = new DataView(value.buffer);
  const chunk = Buffer.alloc(KV_VALUE_BYTES, 97);

  const result: KvResult = {
    ops: K,
    requests: cfg.kvRequests,
    file: path.relative(cfg.root, path.join(s.dir, '.verge', 'data', 'default.sqlite')),
    verge: { get: newSample(), set: newSample(), none: newSample() },
    raw: { get: newSample(), set: newSample(), setNormal: newSample(), fsync: newSample() },
    rawSettings: `${store.settings.journalMode}, synchronous=${store.settings.synchronous}`,
    hotBaseline: [],
  };
  const bytes = K * KV_VALUE_BYTES;
  type Item = { run: (smp: Sample | undefined) => Promise<void>; key: string };
  const items: Item[] = [
    // The set guest goes first in the first (warm-up) round: it writes the keys the get guest reads.
    { key: 'verge set', run: (smp) => timed(smp, s.verge, () => vergeGet(s, '/kv/set', bytes)) },
    { key: 'verge get', run: (smp) => timed(smp, s.verge, () => vergeGet(s, '/kv/get', bytes)) },
    { key: 'verge none', run: (smp) => timed(smp, s.verge, () => vergeGet(s, '/kv/none', 0)) },
    {
      key: 'raw set',
      run: (smp) =>
        timed(smp, undefined, async () => {
          randomFillSync(value, 0, 8);
          for (let i = 0; i < K; i++) {
            valueView.setInt32(8, i, true);
            store.set(keys[i]!, value);
          }
        }),
    },
    {
      key: 'raw get',
      run: (smp) =>
        timed(smp, undefined, async () => {
          let total = 0;
          for (let i = 0; i < K; i++) total += store.get(keys[i]!)?.length ?? 0;
          if (total !== bytes) throw new Error(`raw store get: read ${total} bytes, expected ${bytes}`);
        }),
    },
    {
      key: 'raw set normal',
      run: (smp) =>
        timed(smp, undefined, async () => {
          randomFillSync(value, 0, 8);
          for (let i = 0; i < K; i++) {
            valueView.setInt32(8, i, true);
            upsertNormal.run(keys[i]!, value);
          }
        }),
    },
    {
      key: 'fsync',
      run: (smp) =>
        timed(smp, undefined, async () => {
          for (let i = 0; i < K; i++) {
            writeSync(fsyncFd, chunk);
            fdatasyncSync(fsyncFd);
          }
        }),
    },
  ];
  const sampleOf: Record<string, Sample> = {
    'verge set': result.verge.set,
    'verge get': result.verge.get,
    'verge none': result.verge.none,
    'raw set': result.raw.set,
    'raw get': result.raw.get,
    'raw set normal': result.raw.setNormal,
    fsync: result.raw.fsync,
  };
  try {
    const total = cfg.warmupRounds + cfg.kvRequests;
    for (let round = 0; round < total; round++) {
      const counted = round >= cfg.warmupRounds;
      for (const item of round === 0 ? items : rotate(items, round)) await item.run(counted ? sampleOf[item.key] : undefined);
      if (counted && ((round - cfg.warmupRounds + 1) % 5 === 0 || round === total - 1)) {
        const r = result.verge;
        cfg.log(
          `kv round ${round - cfg.warmupRounds + 1}/${cfg.kvRequests}: verge get ${fmtMs(r.get.ms.at(-1)!)}, set ${fmtMs(r.set.ms.at(-1)!)}, K=0 ${fmtMs(r.none.ms.at(-1)!)}; ` +
            `raw get ${fmtMs(result.raw.get.ms.at(-1)!)}, set ${fmtMs(result.raw.set.ms.at(-1)!)} (${K} ops each)`,
        );
      }
    }
    result.hotBaseline = await backToBack(s, '/kv/none', HOT_REQUESTS);
  } finally {
    store.close();
    normal.close();
    closeSync(fsyncFd);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Outbound

export interface OutboundResult {
  calls: number;
  requests: number;
  originUrl: string;
  verge: { calls: Sample; none: Sample };
  direct: { sendOutbound: Sample; unpooled: Sample; pooled: Sample };
  /** The N=0 guest requested back to back, ms per request. */
  hotBaseline: number[];
}

async function outboundPhase(cfg: CapConfig, s: CapServers): Promise<OutboundResult> {
  const N = cfg.outboundCalls;
  const url = `${s.originUrl}${HELLO_PATH}`;
  const policy = createOutboundPolicy(['http://127.0.0.1:*']);
  const result: OutboundResult = {
    calls: N,
    requests: cfg.outboundRequests,
    originUrl: url,
    verge: { calls: newSample(), none: newSample() },
    direct: { sendOutbound: newSample(), unpooled: newSample(), pooled: newSample() },
    hotBaseline: [],
  };
  const check = (status: number, length: number, what: string) => {
    if (status !== 200 || length !== HELLO_BODY_BYTES) throw new Error(`${what}: origin answered ${status} with ${length} bytes, expected 200 with ${HELLO_BODY_BYTES}`);
  };
  type Item = { key: keyof OutboundResult['verge'] | keyof OutboundResult['direct']; verge: boolean; run: () => Promise<void> };
  const items: Item[] = [
    { key: 'calls', verge: true, run: () => vergeGet(s, '/out/calls', N * HELLO_BODY_BYTES) },
    { key: 'none', verge: true, run: () => vergeGet(s, '/out/none', 0) },
    {
      key: 'sendOutbound',
      verge: false,
      run: async () => {
        for (let i = 0; i < N; i++) {
          const r = await sendOutbound({ method: 'GET', url, headers: [], body: new Uint8Array(0) }, { policy, limits: DEFAULT_OUTBOUND_LIMITS });
          check(r.status, r.body.byteLength, 'sendOutbound');
        }
      },
    },
    {
      key: 'unpooled',
      verge: false,
      run: async () => {
        for (let i = 0; i < N; i++) {
          // As Verge does: a Client per call, destroyed (not awaited) once the body is read.
          const client = new Client(s.originUrl, { pipelining: 1 });
          try {
            const r = await client.request({ method: 'GET', path: HELLO_PATH });
            check(r.statusCode, (await r.body.arrayBuffer()).byteLength, 'undici, fresh Client');
          } finally {
            client.destroy().catch(() => {});
          }
        }
      },
    },
    {
      key: 'pooled',
      verge: false,
      run: async () => {
        for (let i = 0; i < N; i++) {
          const r = await undiciRequest(url);
          check(r.statusCode, (await r.body.arrayBuffer()).byteLength, 'undici request()');
        }
      },
    },
  ];
  const sampleOf = (k: Item['key']): Sample => (k === 'calls' || k === 'none' ? result.verge[k] : result.direct[k]);
  const total = cfg.warmupRounds + cfg.outboundRequests;
  for (let round = 0; round < total; round++) {
    const counted = round >= cfg.warmupRounds;
    for (const item of rotate(items, round)) await timed(counted ? sampleOf(item.key) : undefined, item.verge ? s.verge : undefined, item.run);
    if (counted && ((round - cfg.warmupRounds + 1) % 5 === 0 || round === total - 1)) {
      cfg.log(
        `outbound round ${round - cfg.warmupRounds + 1}/${cfg.outboundRequests}: verge N=${N} ${fmtMs(result.verge.calls.ms.at(-1)!)}, N=0 ${fmtMs(result.verge.none.ms.at(-1)!)}; ` +
          `sendOutbound ${fmtMs(result.direct.sendOutbound.ms.at(-1)!)}, fresh Client ${fmtMs(result.direct.unpooled.ms.at(-1)!)}, pooled ${fmtMs(result.direct.pooled.ms.at(-1)!)} (${N} calls each)`,
      );
    }
  }
  result.hotBaseline = await backToBack(s, '/out/none', HOT_REQUESTS);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Both phases on one Verge instance

export interface CapResults {
  kv?: KvResult;
  outbound?: OutboundResult;
  vergeCommand: string;
}

export async function capabilityPhases(cfg: CapConfig, parts: { kv: boolean; outbound: boolean }): Promise<CapResults> {
  if (cfg.outboundCalls > DEFAULT_MAX_OUTBOUND_REQUESTS) {
    throw new Error(`BENCH_OUTBOUND_CALLS must be at most ${DEFAULT_MAX_OUTBOUND_REQUESTS} (Verge's outbound calls per request)`);
  }
  cfg.log(`capabilities: Verge --workers 1; kv ${cfg.kvRequests} requests × ${cfg.kvOps} ops; outbound ${cfg.outboundRequests} requests × ${cfg.outboundCalls} calls; ${cfg.warmupRounds} warm-up rounds`);
  const s = await startServers(cfg);
  const out: CapResults = { vergeCommand: `verge up ${path.relative(cfg.root, s.dir)} --workers 1 --log-level warn` };
  try {
    cfg.log(`capabilities: verge pid ${s.verge.pid} at ${s.vergeUrl}, origin pid ${s.origin.pid} at ${s.originUrl}`);
    if (parts.kv) out.kv = await kvPhase(cfg, s);
    if (parts.outbound) out.outbound = await outboundPhase(cfg, s);
  } finally {
    await s.stop();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Report

const verdict = (v: number, target: number) => (Number.isFinite(v) ? (v >= target ? 'met' : '**not met**') : 'n/a');

export function renderCapabilities(r: CapResults): string {
  const out: string[] = [];
  const nsMs = (ns: number) => ns / 1e6;
  if (r.kv) {
    const k = r.kv;
    const K = k.ops;
    const R = k.requests;
    const opsPerSec = (smp: Sample) => (R * K) / (sum(smp.ms) / 1000);
    const perOp = (smp: Sample) => sum(smp.ms) / (R * K);
    const base = mean(k.verge.none.ms);
    const netPerOp = (smp: Sample) => (sum(smp.ms) - R * base) / (R * K);
    const vGet = opsPerSec(k.verge.get);
    const vSet = opsPerSec(k.verge.set);
    const rGet = opsPerSec(k.raw.get);
    const rSet = opsPerSec(k.raw.set);
    out.push(`### Key-value from a guest: SQLite backend, one worker`);
    out.push('');
    out.push(
      `- Verge: \`${r.vergeCommand}\`; WAT guests (bench/lib/guests.ts) granted \`key_value_stores = ["default"]\`, SQLite file \`${k.file}\` (fresh each run; WAL, synchronous=FULL: one fsync per commit, each kv_set is one commit). ` +
        `Per request the guest does kv_open, then ${fmtInt(K)} × kv_set (100-byte value) or kv_get (8 KiB buffer) of keys "k0".."k${K - 1}" built by an itoa loop; the K=0 guest only does kv_open.`,
    );
    out.push(
      `- ${R} counted rounds (after warm-up; the first warm-up request writes the keys). Each round: one request to each guest from one client on a kept-alive connection, and the same ${fmtInt(K)} ops on the raw store in the bench process; order rotated per round. ` +
        `ops/s = all ops / all time in those requests (nothing subtracted); the net column subtracts the mean K=0 request.`,
    );
    out.push(`- Raw store: \`openSqliteStore\` from src/backends/sqlite (the class the worker uses; ${k.rawSettings}) on its own fresh file in bench/.work/kv-raw, called from the bench process.`);
    out.push(`- Every kv_set changes the row (8 random bytes per request, then the op index): SQLite skips rewriting a byte-identical row, which would skip the commit's fsync. This part alone: \`BENCH_ONLY=kv npm run bench\`.`);
    out.push('');
    out.push(
      table(
        ['what', 'requests × ops', 'time', 'ops/s', 'median request', 'per op', 'per op, net of K=0 request'],
        [
          ['Verge guest kv_get', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.verge.get.ms)), fmtInt(vGet), fmtMs(median(k.verge.get.ms)), fmtUs(perOp(k.verge.get)), fmtUs(netPerOp(k.verge.get))],
          ['Verge guest kv_set', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.verge.set.ms)), fmtInt(vSet), fmtMs(median(k.verge.set.ms)), fmtUs(perOp(k.verge.set)), fmtUs(netPerOp(k.verge.set))],
          ['Verge guest, K=0 (request + kv_open)', `${R} × 0`, fmtMs(sum(k.verge.none.ms)), '—', fmtMs(median(k.verge.none.ms)), `${fmtMs(base)} mean per request`, '—'],
          [`Verge guest, K=0, ${k.hotBaseline.length} requests back to back`, `${k.hotBaseline.length} × 0`, fmtMs(sum(k.hotBaseline)), '—', fmtMs(median(k.hotBaseline)), `${fmtMs(mean(k.hotBaseline))} mean per request`, '—'],
          ['raw store get (bench process)', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.raw.get.ms)), fmtInt(rGet), '—', fmtUs(perOp(k.raw.get)), '—'],
          ['raw store set (bench process)', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.raw.set.ms)), fmtInt(rSet), '—', fmtUs(perOp(k.raw.set)), '—'],
          ['context: better-sqlite3 upsert, WAL, synchronous=NORMAL (no fsync per commit)', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.raw.setNormal.ms)), fmtInt(opsPerSec(k.raw.setNormal)), '—', fmtUs(perOp(k.raw.setNormal)), '—'],
          ['context: 100-byte append + fdatasync (this disk\'s commit floor)', `${R} × ${fmtInt(K)}`, fmtMs(sum(k.raw.fsync.ms)), fmtInt(opsPerSec(k.raw.fsync)), '—', fmtUs(perOp(k.raw.fsync)), '—'],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
    out.push(
      table(
        ['ratio', 'value', 'target', ''],
        [
          ['Verge guest kv_get ops/s, one worker', fmtInt(vGet), `≥ ${fmtInt(KV_TARGET_OPS)}`, verdict(vGet, KV_TARGET_OPS)],
          ['Verge guest kv_set ops/s, one worker', fmtInt(vSet), `≥ ${fmtInt(KV_TARGET_OPS)}`, verdict(vSet, KV_TARGET_OPS)],
          ['Verge get ops/s ÷ raw store get ops/s', fmtRatio(vGet / rGet), '', ''],
          ['Verge set ops/s ÷ raw store set ops/s', fmtRatio(vSet / rSet), '', ''],
          ['ABI + worker overhead per kv_get (Verge net per op − raw per op)', fmtUs(netPerOp(k.verge.get) - perOp(k.raw.get)), '', ''],
          ['ABI + worker overhead per kv_set (Verge net per op − raw per op)', fmtUs(netPerOp(k.verge.set) - perOp(k.raw.set)), '', ''],
        ],
        ['l', 'r', 'l', 'l'],
      ),
    );
    out.push('');
    const none = k.verge.none;
    const cpuRow = (label: string, smp: Sample, ops: number) => [
      label,
      fmtMs(mean(smp.ms)),
      fmtMs(nsMs(smp.vergeNs.main) / R),
      fmtMs(nsMs(smp.vergeNs.busiest) / R),
      fmtMs(nsMs(smp.vergeNs.other) / R),
      ops ? fmtUs(nsMs(smp.vergeNs.busiest - none.vergeNs.busiest) / (R * ops)) : '—',
      ops ? fmtUs((sum(smp.ms) - sum(none.ms) - nsMs(smp.vergeNs.busiest - none.vergeNs.busiest)) / (R * ops)) : '—',
    ];
    out.push(
      table(
        ['Verge, per request', 'wall time', 'CPU: main thread (ingress, dispatch)', 'CPU: busiest other thread (the worker)', 'CPU: all other threads', 'worker CPU per op (net of K=0)', 'worker off-CPU per op (wall − CPU, net of K=0)'],
        [cpuRow('kv_get guest', k.verge.get, K), cpuRow('kv_set guest', k.verge.set, K), cpuRow('K=0 guest', none, 0)],
        ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
    out.push('CPU time per thread from /proc/PID/task/*/schedstat (ns), over the counted requests. Off-CPU time in the worker during kv_set is mostly waiting for the WAL fsync.');
    out.push(
      `Per-request overhead: in the rounds every Verge request follows other work, so Verge's threads start parked (K=0 mean ${fmtMs(base)}); ` +
        `back to back the same request takes ${fmtMs(median(k.hotBaseline))} (median). The net per-op column subtracts the in-round figure, which is what the K-op requests also paid.`,
    );
    out.push('');
  }
  if (r.outbound) {
    const o = r.outbound;
    const N = o.calls;
    const R = o.requests;
    const calls = N * R;
    const vergeMean = (sum(o.verge.calls.ms) - sum(o.verge.none.ms)) / calls;
    const vergeMedian = (median(o.verge.calls.ms) - median(o.verge.none.ms)) / N;
    const perCall = (smp: Sample) => sum(smp.ms) / calls;
    const perCallMedian = (smp: Sample) => median(smp.ms) / N;
    const cpuPerCall = (smp: Sample) => smp.benchCpuUs / 1000 / calls;
    const so = perCall(o.direct.sendOutbound);
    const un = perCall(o.direct.unpooled);
    const po = perCall(o.direct.pooled);
    out.push(`### Outbound HTTP: cost per call`);
    out.push('');
    out.push(
      `- Origin: bench/peers/node-http.ts (its own process) on 127.0.0.1, \`GET ${HELLO_PATH}\` answers ${HELLO_BODY_BYTES} bytes. ` +
        `Verge: \`${r.vergeCommand}\`, a WAT guest granted \`allowed_outbound_hosts = ["http://127.0.0.1:*"]\` and \`variables = ["target"]\` reads the URL from the variable, then ${N} × (http_send GET, status, http_response_body, http_close) per request; the N=0 guest only reads the variable.`,
    );
    out.push(
      `- ${R} counted rounds after warm-up; each round: one request to each guest (one client, kept-alive connection) and ${N} calls from the bench process by each direct method, order rotated per round. ` +
        `Verge per call = (time of the N=${N} requests − time of the N=0 requests) ÷ ${calls}; the median column uses (median N=${N} request − median N=0 request) ÷ ${N}.`,
    );
    out.push(
      `- Verge's http_send runs sendOutbound (src/capabilities/outbound-http/fetch.ts) on the main thread, reached from the worker over the host bridge, and reuses pooled connections only between calls whose DNS check gave the same origin and addresses (so every connection stays pinned to a checked address). ` +
        `"sendOutbound in-process" is that same function called from the bench process: the difference to Verge is the worker ↔ main bridge and the ABI. This part alone: \`BENCH_ONLY=outbound npm run bench\`.`,
    );
    out.push('');
    out.push(
      table(
        ['path', 'calls', 'mean per call', 'per call (medians)', 'bench-process CPU per call', 'Verge ÷ this (mean)'],
        [
          ['Verge guest http_send (net of the N=0 request)', String(calls), fmtUs(vergeMean), fmtUs(vergeMedian), '—', '1.00×'],
          ['sendOutbound() in-process (Verge\'s code, no worker bridge)', String(calls), fmtUs(so), fmtUs(perCallMedian(o.direct.sendOutbound)), fmtUs(cpuPerCall(o.direct.sendOutbound)), fmtRatio(vergeMean / so)],
          ['undici, fresh Client per call (unpooled)', String(calls), fmtUs(un), fmtUs(perCallMedian(o.direct.unpooled)), fmtUs(cpuPerCall(o.direct.unpooled)), fmtRatio(vergeMean / un)],
          ['undici request(), pooled keep-alive (global dispatcher)', String(calls), fmtUs(po), fmtUs(perCallMedian(o.direct.pooled)), fmtUs(cpuPerCall(o.direct.pooled)), fmtRatio(vergeMean / po)],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
    const nsPerCall = (t: number) => fmtUs(nsMs(t) / calls);
    const ov = o.verge;
    out.push(
      table(
        ['Verge request', 'mean wall time', 'median', 'Verge CPU: main thread', 'the worker', 'other threads'],
        [
          [`N=${N} guest`, fmtMs(mean(ov.calls.ms)), fmtMs(median(ov.calls.ms)), fmtMs(nsMs(ov.calls.vergeNs.main) / R), fmtMs(nsMs(ov.calls.vergeNs.busiest) / R), fmtMs(nsMs(ov.calls.vergeNs.other) / R)],
          ['N=0 guest (baseline)', fmtMs(mean(ov.none.ms)), fmtMs(median(ov.none.ms)), fmtMs(nsMs(ov.none.vergeNs.main) / R), fmtMs(nsMs(ov.none.vergeNs.busiest) / R), fmtMs(nsMs(ov.none.vergeNs.other) / R)],
          [`N=0 guest, ${o.hotBaseline.length} back to back`, fmtMs(mean(o.hotBaseline)), fmtMs(median(o.hotBaseline)), '—', '—', '—'],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
    out.push(
      `Verge CPU per outbound call (difference of the two rows ÷ ${N}): main thread ${nsPerCall(ov.calls.vergeNs.main - ov.none.vergeNs.main)}, ` +
        `worker ${nsPerCall(ov.calls.vergeNs.busiest - ov.none.vergeNs.busiest)}, other threads ${nsPerCall(ov.calls.vergeNs.other - ov.none.vergeNs.other)} ` +
        `(per-thread CPU from /proc/PID/task/*/schedstat). Mean wall time per call ${fmtUs(vergeMean)}.`,
    );
    out.push('');
    out.push(
      table(
        ['ratio', 'value'],
        [
          ['Verge per call ÷ undici pooled', fmtRatio(vergeMean / po)],
          ['Verge per call ÷ undici fresh Client (unpooled)', fmtRatio(vergeMean / un)],
          ['Verge per call ÷ sendOutbound in-process', fmtRatio(vergeMean / so)],
          ['undici fresh Client ÷ undici pooled (the cost of not pooling)', fmtRatio(un / po)],
        ],
        ['l', 'r'],
      ),
    );
    out.push('');
  }
  return out.join('\n');
}
