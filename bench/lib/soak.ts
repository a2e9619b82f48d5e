/**
 * The `soak` part (issue 17): one node serving a mix — hello (AssemblyScript), the sensor
 * aggregator (Rust, key-value on SQLite) and the image resizer (Rust, a 1600×1200 JPEG to 400 px)
 * — for a long run at 80 % of the mix's measured peak, while a guest that loops forever is called
 * every 10 s and a guest that grows its memory until the cap every 30 s.
 *
 * - Peak: closed loop, BENCH_SOAK_PEAK_CONCURRENCY (16) connections, BENCH_SOAK_PEAK_SECONDS (15).
 * - Unloaded latency: one connection, the same mix, BENCH_SOAK_IDLE_SECONDS (10).
 * - Soak: open loop (requests are sent on a schedule whatever the answers do, so a stall shows as
 *   latency, not as fewer requests) at 80 % of the peak for BENCH_SOAK_SECONDS (600), reported per
 *   BENCH_SOAK_WINDOW (10) seconds: answers and p50/p99 per kind, unexpected errors, the node's RSS.
 *
 * BENCH_SOAK_RATE fixes the soak's rate (req/s) instead, and BENCH_SOAK_VERGE runs another
 * checkout's bin/verge.js on the same guests: together they compare two builds at one load.
 * BENCH_SOAK_ADMIN=1 gives the node an admin listener and reports how many guests it demoted for
 * spinning (dispatch/pool.ts), during the peak and during the soak.
 *
 * Pass: no error but the hostile guests' own; each kind's p99 over the soak within 2× its unloaded
 * p99; RSS flat (the last minute's mean within 10 % of the second minute's).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compileWat } from './bigmodule.js';
import { childEnv, freePort, intEnv, readMemory, sleep, startChild, stopChild, type Child } from './proc.js';
import { fmtInt, fmtMiB, fmtMs, fmtRatio, table } from './report.js';
import { makePhoto, type ResizeConfig } from './resize.js';

export type SoakConfig = ResizeConfig;

type Kind = 'hello' | 'reading' | 'region' | 'resize';
const KINDS: Kind[] = ['hello', 'reading', 'region', 'resize'];
/** Shares of the mix, out of 100: mostly small requests, a few heavy ones. */
const MIX: Record<Kind, number> = { hello: 60, reading: 25, region: 10, resize: 5 };
const REGIONS = ['eu-west', 'us-east', 'ap-south', 'sa-east'];

interface Sample {
  kind: Kind;
  ms: number;
  ok: boolean;
  detail?: string;
}

export interface SoakWindow {
  atS: number;
  sent: number;
  answered: Record<Kind, number>;
  p50: Record<Kind, number>;
  p99: Record<Kind, number>;
  unexpected: number;
  hostile: { loop: string[]; bomb: string[] };
  rssKiB: number;
}

export interface SoakResults {
  seconds: number;
  windowS: number;
  peakRps: number;
  rate: number;
  idle: Record<Kind, { p50: number; p99: number; n: number }>;
  soak: Record<Kind, { p50: number; p99: number; n: number }>;
  windows: SoakWindow[];
  unexpected: string[];
  hostileAnswers: { loop: Record<string, number>; bomb: Record<string, number> };
  rss: { secondMinuteKiB: number; lastMinuteKiB: number };
  /** Guests demoted for spinning (verge_guest_demotions_total), during the peak and over the whole soak; undefined for a build without the metric. */
  demotions: { peak: number | undefined; soak: number | undefined };
  vergeCommand: string;
  loadAvg: number[];
}

const LOOP_WAT = `(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))`;
/** Grows one page at a time until the cap refuses, writing each page, then traps: a memory bomb. */
const BOMB_WAT = `(module (memory (export "memory") 1)
  (func (export "_start") (local $p i32)
    (block $full (loop $grow
      (local.set $p (memory.grow (i32.const 1)))
      (br_if $full (i32.eq (local.get $p) (i32.const -1)))
      (i32.store (i32.mul (local.get $p) (i32.const 65536)) (i32.const 1))
      (br $grow)))
    unreachable))`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: Sample[]): Record<Kind, { p50: number; p99: number; n: number }> {
  const out = {} as Record<Kind, { p50: number; p99: number; n: number }>;
  for (const k of KINDS) {
    const ms = samples.filter((s) => s.kind === k && s.ok).map((s) => s.ms).sort((a, b) => a - b);
    out[k] = { p50: percentile(ms, 50), p99: percentile(ms, 99), n: ms.length };
  }
  return out;
}

function buildExample(cfg: SoakConfig, name: string): void {
  cfg.log(`soak: building examples/${name}`);
  const build = spawnSync(process.execPath, [cfg.vergeBin, 'build', `examples/${name}`], { cwd: cfg.root, env: childEnv(), encoding: 'utf8', timeout: 600_000 });
  if (build.status !== 0) throw new Error(`verge build examples/${name} failed (${build.status}):\n${build.stderr}`);
}

async function writeSoakApp(cfg: SoakConfig, dir: string): Promise<void> {
  for (const name of ['hello', 'sensor-aggregator', 'image-resize']) buildExample(cfg, name);
  copyFileSync(path.join(cfg.root, 'examples/hello/build/hello.wasm'), path.join(dir, 'hello.wasm'));
  copyFileSync(path.join(cfg.root, 'examples/sensor-aggregator/target/wasm32-wasi/release/sensor-aggregator.wasm'), path.join(dir, 'aggregator.wasm'));
  copyFileSync(path.join(cfg.root, 'examples/image-resize/target/wasm32-wasi/release/image-resize.wasm'), path.join(dir, 'resize.wasm'));
  writeFileSync(path.join(dir, 'loop.wasm'), await compileWat('loop', LOOP_WAT));
  writeFileSync(path.join(dir, 'bomb.wasm'), await compileWat('bomb', BOMB_WAT));
  // The examples' own limits, routes under one app; the hostile guests with a 1 s deadline and a 64 MiB cap.
  writeFileSync(
    path.join(dir, 'verge.toml'),
    `[application]
name = "soak"

[variables]
max_megapixels = { default = "40" }

[[route]]
path = "/api/..."
component = "hello"

[[route]]
path = "/readings"
component = "aggregator"

[[route]]
path = "/regions/:region"
component = "aggregator"

[[route]]
path = "/resize"
component = "resize"

[[route]]
path = "/loop"
component = "loop"

[[route]]
path = "/bomb"
component = "bomb"

[component.hello]
source = "hello.wasm"

[component.aggregator]
source = "aggregator.wasm"
key_value_stores = ["default"]
limits = { max_request_bytes = 65536 }

[component.resize]
source = "resize.wasm"
variables = ["max_megapixels"]
limits = { max_request_bytes = 10485760, memory_mib = 1024, timeout_ms = 30000 }

[component.loop]
source = "loop.wasm"
limits = { timeout_ms = 1000 }

[component.bomb]
source = "bomb.wasm"
limits = { memory_mib = 64 }
`,
  );
}

interface Target {
  base: string;
  agent: http.Agent;
  photo: Buffer;
}

function send(t: Target, method: string, p: string, body?: Buffer | string, contentType?: string, timeoutMs = 60_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (body !== undefined) {
      headers['content-length'] = Buffer.byteLength(body);
      if (contentType) headers['content-type'] = contentType;
    }
    const req = http.request(`${t.base}${p}`, { method, agent: t.agent, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8', 0, Math.min(200, Buffer.concat(chunks).length)) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

let counter = 0;
function pickKind(): Kind {
  const n = counter++ % 100;
  let acc = 0;
  for (const k of KINDS) {
    acc += MIX[k];
    // Spread each kind over the hundred instead of running them in blocks.
    if (((n * 37) % 100) < acc) return k;
  }
  return 'hello';
}

async function one(t: Target, kind: Kind): Promise<Sample> {
  const started = performance.now();
  try {
    let r: { status: number; body: string };
    if (kind === 'hello') r = await send(t, 'GET', '/api/hello');
    else if (kind === 'reading') {
      const region = REGIONS[counter % REGIONS.length]!;
      const reading = { device_id: `d-${counter}`, region, temperature_c: 15 + (counter % 100) / 10, timestamp: 1_700_000_000 + counter };
      r = await send(t, 'POST', '/readings', JSON.stringify(reading), 'application/json');
    } else if (kind === 'region') r = await send(t, 'GET', `/regions/${REGIONS[counter % REGIONS.length]}`);
    else r = await send(t, 'POST', '/resize?width=400', t.photo, 'image/jpeg');
    const ok = r.status >= 200 && r.status < 300;
    return { kind, ms: performance.now() - started, ok, detail: ok ? undefined : `${kind}: ${r.status} ${r.body}` };
  } catch (e) {
    return { kind, ms: performance.now() - started, ok: false, detail: `${kind}: ${(e as Error).message}` };
  }
}

async function closedLoop(t: Target, concurrency: number, seconds: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) samples.push(await one(t, pickKind()));
    }),
  );
  return samples;
}

async function hostile(t: Target, p: '/loop' | '/bomb'): Promise<string> {
  try {
    const r = await send(t, 'GET', p, undefined, undefined, 30_000);
    const code = /"error"\s*:\s*"([A-Z_]+)"/.exec(r.body)?.[1];
    return `${r.status}${code ? ` ${code}` : ''}`;
  } catch (e) {
    return `no answer: ${(e as Error).message}`;
  }
}

export async function soakPhase(cfg: SoakConfig): Promise<SoakResults> {
  const seconds = intEnv('BENCH_SOAK_SECONDS', 600);
  const windowS = intEnv('BENCH_SOAK_WINDOW', 10);
  const peakConcurrency = intEnv('BENCH_SOAK_PEAK_CONCURRENCY', 16);
  const peakSeconds = intEnv('BENCH_SOAK_PEAK_SECONDS', 15);
  const idleSeconds = intEnv('BENCH_SOAK_IDLE_SECONDS', 10);
  const fixedRate = intEnv('BENCH_SOAK_RATE', 0, 0);
  const vergeBin = process.env.BENCH_SOAK_VERGE ? path.resolve(process.env.BENCH_SOAK_VERGE) : cfg.vergeBin;
  const dir = path.join(cfg.work, 'soak');
  mkdirSync(dir, { recursive: true });
  await writeSoakApp(cfg, dir);
  const port = await freePort();
  // BENCH_SOAK_ADMIN=1: an admin listener, only for its /metrics (how many guests were demoted, at
  // the peak and over the soak). Off by default: metrics cost a little per request, and earlier
  // soaks ran without them.
  const adminPort = process.env.BENCH_SOAK_ADMIN === '1' ? await freePort() : undefined;
  const admin = adminPort ? ['--admin', `127.0.0.1:${adminPort}`] : [];
  const args = [vergeBin, 'up', dir, '--listen', `127.0.0.1:${port}`, ...admin, '--log-level', 'error', '--data-dir', path.join(dir, 'data'), ...cfg.vergeWorkerArgs];
  const demotions = async (): Promise<number | undefined> => {
    if (!adminPort) return undefined;
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const counts = [...text.matchAll(/^verge_guest_demotions_total\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
    return /^# TYPE verge_guest_demotions_total /m.test(text) ? counts.reduce((a, b) => a + b, 0) : undefined;
  };
  const child: Child = cfg.track(startChild('verge (soak)', process.execPath, args, { cwd: cfg.root }));
  // Watched for before anything is awaited: a line that came while the photo was made would be missed.
  const serving = child.waitForStderr(/^Serving /, 60_000);
  serving.catch(() => undefined);
  // Idle connections are closed after 4 s, before the server's keep-alive timeout (5 s, which it
  // announces in Keep-Alive: timeout=5; node 20's agent does not read it, undici does): a request
  // sent on a connection just as the server closes it fails with a socket hang up or ECONNRESET,
  // the client-side race behind the soak's few unexplained resets, not an error of the server.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });
  const t: Target = { base: `http://127.0.0.1:${port}`, agent, photo: await makePhoto() };
  try {
    await serving;
    for (const k of KINDS) {
      const s = await one(t, k);
      if (!s.ok) throw new Error(`soak: the first ${k} request failed: ${s.detail}`);
    }
    cfg.log(`soak: unloaded latency, 1 connection, ${idleSeconds} s`);
    const idle = summary(await closedLoop(t, 1, idleSeconds));
    cfg.log(`soak: peak, ${peakConcurrency} connections, ${peakSeconds} s`);
    const peakSamples = await closedLoop(t, peakConcurrency, peakSeconds);
    const peakRps = peakSamples.length / peakSeconds;
    const demotedAtPeak = await demotions();
    const rate = fixedRate || Math.max(1, Math.round(peakRps * 0.8));
    cfg.log(`soak: peak ${fmtInt(peakRps)} req/s; soaking at ${fmtInt(rate)} req/s for ${seconds} s`);

    const samples: Array<Sample & { at: number }> = [];
    const unexpected: string[] = [];
    const windows: SoakWindow[] = [];
    const hostileAnswers = { loop: {} as Record<string, number>, bomb: {} as Record<string, number> };
    const hostileInWindow = { loop: [] as string[], bomb: [] as string[] };
    const pending = new Set<Promise<void>>();
    const track = (p: Promise<void>) => {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    };
    const start = performance.now();
    let sent = 0;
    let sentInWindow = 0;
    let nextLoop = 10_000;
    let nextBomb = 30_000;
    let windowStart = 0;
    const rss: Array<{ atS: number; kiB: number }> = [];
    const closeWindow = (elapsed: number) => {
      const inWindow = samples.filter((s) => s.at >= windowStart && s.at < elapsed);
      const sum = summary(inWindow);
      const kiB = readMemory(child.pid)?.rssKiB ?? NaN;
      rss.push({ atS: elapsed / 1000, kiB });
      const w: SoakWindow = {
        atS: Math.round(elapsed / 1000),
        sent: sentInWindow,
        answered: Object.fromEntries(KINDS.map((k) => [k, sum[k].n])) as Record<Kind, number>,
        p50: Object.fromEntries(KINDS.map((k) => [k, sum[k].p50])) as Record<Kind, number>,
        p99: Object.fromEntries(KINDS.map((k) => [k, sum[k].p99])) as Record<Kind, number>,
        unexpected: inWindow.filter((s) => !s.ok).length,
        hostile: { loop: hostileInWindow.loop.splice(0), bomb: hostileInWindow.bomb.splice(0) },
        rssKiB: kiB,
      };
      windows.push(w);
      cfg.log(`soak ${w.atS} s: sent ${w.sent}, hello p99 ${fmtMs(w.p99.hello)}, resize p99 ${fmtMs(w.p99.resize)}, unexpected ${w.unexpected}, RSS ${fmtMiB(kiB)}`);
      windowStart = elapsed;
      sentInWindow = 0;
    };
    while (performance.now() - start < seconds * 1000) {
      const elapsed = performance.now() - start;
      const due = Math.floor((elapsed / 1000) * rate);
      for (; sent < due; sent++, sentInWindow++) {
        const kind = pickKind();
        track(
          one(t, kind).then((s) => {
            samples.push({ ...s, at: performance.now() - start });
            if (!s.ok && unexpected.length < 50) unexpected.push(`${((performance.now() - start) / 1000).toFixed(1)} s ${s.detail}`);
            else if (!s.ok) unexpected.push('…');
          }),
        );
      }
      for (const [what, next] of [['loop', nextLoop], ['bomb', nextBomb]] as const) {
        if (elapsed < next) continue;
        if (what === 'loop') nextLoop += 10_000;
        else nextBomb += 30_000;
        track(
          hostile(t, what === 'loop' ? '/loop' : '/bomb').then((answer) => {
            hostileAnswers[what][answer] = (hostileAnswers[what][answer] ?? 0) + 1;
            hostileInWindow[what].push(answer);
          }),
        );
      }
      if (elapsed - windowStart >= windowS * 1000) closeWindow(elapsed);
      await sleep(5);
    }
    // The answers still on their way belong to the last window: wait for them (bounded), then close it.
    await Promise.race([Promise.all(pending), sleep(60_000)]);
    closeWindow(performance.now() - start);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const second = rss.filter((r) => r.atS > 60 && r.atS <= 120).map((r) => r.kiB);
    const last = rss.filter((r) => r.atS > seconds - 60).map((r) => r.kiB);
    return {
      seconds,
      windowS,
      peakRps,
      rate,
      idle,
      soak: summary(samples.filter((s) => s.at > windowS * 1000)),
      windows,
      unexpected,
      hostileAnswers,
      rss: { secondMinuteKiB: mean(second), lastMinuteKiB: mean(last) },
      demotions: await demotions().then((all) => ({ peak: demotedAtPeak, soak: all === undefined || demotedAtPeak === undefined ? all : all - demotedAtPeak })),
      vergeCommand: `${vergeBin === cfg.vergeBin ? 'verge' : vergeBin} up <soak app>${adminPort ? ' --admin …' : ''} --log-level error${cfg.vergeWorkerArgs.map((a) => ' ' + a).join('')}${fixedRate ? ` (rate fixed by BENCH_SOAK_RATE)` : ''}`,
      loadAvg: os.loadavg(),
    };
  } finally {
    agent.destroy();
    await stopChild(child);
  }
}

export function renderSoak(r: SoakResults): string {
  const lines: string[] = [];
  lines.push(`### Soak: ${r.seconds} s at 80 % of peak on a mix, with a looping guest every 10 s and a memory bomb every 30 s`);
  lines.push('');
  lines.push(`- Mix (by count): hello ${MIX.hello} %, sensor reading POST ${MIX.reading} %, region GET ${MIX.region} %, image resize POST (1600×1200 JPEG → 400 px) ${MIX.resize} %. Open loop: requests leave on a schedule, keep-alive connections as needed.`);
  lines.push(`- Peak (closed loop, the same mix): ${fmtInt(r.peakRps)} req/s; soak rate ${fmtInt(r.rate)} req/s. Server: \`${r.vergeCommand}\`. Load average at the end: ${r.loadAvg.map((l) => l.toFixed(1)).join(' / ')}.`);
  lines.push(`- Hostile answers: loop ${JSON.stringify(r.hostileAnswers.loop)}, bomb ${JSON.stringify(r.hostileAnswers.bomb)}.`);
  const demoted = (n: number | undefined) => (n === undefined ? 'n/a' : fmtInt(n));
  if (r.vergeCommand.includes('--admin')) lines.push(`- Guests demoted for spinning: ${demoted(r.demotions.peak)} during the peak (no hostile guest then), ${demoted(r.demotions.soak)} during the soak.`);
  const errors = r.unexpected.length;
  lines.push(`- Unexpected errors (any failure of the mix): ${errors}${errors ? `: ${r.unexpected.slice(0, 5).join('; ')}` : ''}.`);
  const rssRatio = r.rss.lastMinuteKiB / r.rss.secondMinuteKiB;
  lines.push(`- RSS: second minute ${fmtMiB(r.rss.secondMinuteKiB)}, last minute ${fmtMiB(r.rss.lastMinuteKiB)} (${fmtRatio(rssRatio)}; target within 10 %: ${Math.abs(rssRatio - 1) <= 0.1 ? 'met' : 'not met'}).`);
  lines.push('');
  lines.push(
    table(
      ['kind', 'unloaded p50', 'unloaded p99', 'soak p50', 'soak p99', 'soak p99 / unloaded p99 (target ≤ 2×)', 'answers'],
      KINDS.map((k) => [k, fmtMs(r.idle[k].p50), fmtMs(r.idle[k].p99), fmtMs(r.soak[k].p50), fmtMs(r.soak[k].p99), fmtRatio(r.soak[k].p99 / r.idle[k].p99), fmtInt(r.soak[k].n)]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  lines.push('');
  lines.push('The curve, per window:');
  lines.push('');
  lines.push(
    table(
      ['t (s)', 'sent', 'hello p99', 'reading p99', 'region p99', 'resize p99', 'unexpected', 'loop', 'bomb', 'RSS'],
      r.windows.map((w) => [String(w.atS), fmtInt(w.sent), fmtMs(w.p99.hello), fmtMs(w.p99.reading), fmtMs(w.p99.region), fmtMs(w.p99.resize), String(w.unexpected), w.hostile.loop.join(', '), w.hostile.bomb.join(', '), fmtMiB(w.rssKiB)]),
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r'],
    ),
  );
  return lines.join('\n');
}
