/**
 * The `resize` part: examples/image-resize (Rust + the `image` crate, a fresh Wasm instance per
 * request) against sharp (libvips, native) doing the same work in a plain node:http server
 * (bench/peers/sharp-resize.ts): a 1600×1200 JPEG POSTed and resized to 400 px wide with
 * Lanczos3, answered as JPEG quality 85.
 *
 * - Load: `wrk -t1 -cN --latency -s post.lua` (the Lua script POSTs the JPEG) at each connection
 *   count, servers alternating (first server rotated per round), a warm-up before each
 *   measurement; the median round by req/s. Peak RSS (VmHWM) of each server process afterwards.
 * - Module size, and the first request: spawn `verge up` → "Serving" → first POST → second POST,
 *   each on a new connection, several runs; the same for the sharp peer.
 *
 * Knobs: BENCH_RESIZE_SECONDS (10), BENCH_RESIZE_ROUNDS (2), BENCH_RESIZE_CONNECTIONS ("1,2,8"),
 * BENCH_RESIZE_FIRST_RUNS (3). Verge runs with its default workers unless BENCH_VERGE_WORKERS.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { childEnv, freePort, intEnv, readMemory, startChild, stopChild, track, type Child } from './proc.js';
import { parseWrk, type WrkResult } from './wrk.js';
import { fmtInt, fmtMiB, fmtMs, fmtRatio, median, medianBy, table } from './report.js';

export interface ResizeConfig {
  root: string;
  work: string;
  vergeBin: string;
  vergeWorkerArgs: string[];
  vergeWorkers: number;
  log: (line: string) => void;
  notes: string[];
  track: (c: Child) => Child;
}

const WIDTH = 400;
const SRC_W = 1600;
const SRC_H = 1200;
const PATH = `/resize?width=${WIDTH}`;

type Key = 'verge' | 'sharp';
interface Server {
  key: Key;
  label: string;
  child: Child;
  url: string;
  idleRssKiB: number;
  peakRssKiB: number;
  rounds: Map<number, WrkResult[]>;
}

export interface ResizeResults {
  seconds: number;
  rounds: number;
  connections: number[];
  inputBytes: number;
  outputBytes: Record<Key, number>;
  moduleBytes: number;
  vergeCommand: string;
  servers: Server[];
  first: Record<Key, { ready: number[]; first: number[]; second: number[] }>;
  sharpVersion: string;
}

/** Deterministic noise plus gradients, encoded like a photo (q90). The same generator as the example's test. */
/** The 1600×1200 JPEG the resize benchmarks post (noise and gradients, made by sharp). */
export async function makePhoto(): Promise<Buffer> {
  const raw = Buffer.alloc(SRC_W * SRC_H * 3);
  let seed = SRC_W * 31 + SRC_H;
  for (let y = 0; y < SRC_H; y++) {
    for (let x = 0; x < SRC_W; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const i = (y * SRC_W + x) * 3;
      raw[i] = ((x * 255) / SRC_W + (seed & 31)) & 255;
      raw[i + 1] = ((y * 255) / SRC_H) & 255;
      raw[i + 2] = (x ^ y) & 255;
    }
  }
  return sharp(raw, { raw: { width: SRC_W, height: SRC_H, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** One POST on a new connection; resolves with status, content-type and body. */
function post(url: string, body: Buffer, timeoutMs = 30_000): Promise<{ status: number; type: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent: false, timeout: timeoutMs, headers: { 'content-type': 'image/jpeg', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function checkAnswer(label: string, url: string, photo: Buffer): Promise<number> {
  const r = await post(url + PATH, photo);
  if (r.status !== 200 || r.type !== 'image/jpeg') throw new Error(`${label}: POST ${PATH} answered ${r.status} ${r.type} ${r.body.toString('utf8').slice(0, 300)}`);
  const meta = await sharp(r.body).metadata();
  if (meta.format !== 'jpeg' || meta.width !== WIDTH || meta.height !== (SRC_H * WIDTH) / SRC_W) {
    throw new Error(`${label}: the answer is ${meta.format} ${meta.width}x${meta.height}, expected jpeg ${WIDTH}x${(SRC_H * WIDTH) / SRC_W}`);
  }
  return r.body.length;
}

function runWrkPost(url: string, script: string, connections: number, seconds: number): Promise<WrkResult> {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`load only goes to 127.0.0.1, not ${url}`);
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '--latency', '-s', script, url];
  return new Promise((resolve, reject) => {
    const child = execFile('wrk', args, { env: childEnv(), timeout: (seconds + 30) * 1000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk failed: ${err.message}\n${stdout}\n${stderr}`));
      try {
        resolve(parseWrk(stdout));
      } catch (e) {
        reject(e);
      }
    });
    track(child);
  });
}

async function startVerge(cfg: ResizeConfig, app: string): Promise<{ child: Child; url: string; spawnedAt: number }> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const child = cfg.track(
    startChild('verge (image-resize)', process.execPath, [cfg.vergeBin, 'up', app, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...cfg.vergeWorkerArgs], {
      cwd: cfg.root,
    }),
  );
  return { child, url: `http://127.0.0.1:${port}`, spawnedAt };
}

async function startSharp(cfg: ResizeConfig): Promise<{ child: Child; url: string; spawnedAt: number }> {
  const port = await freePort();
  const spawnedAt = performance.now();
  const peer = path.join(cfg.root, 'dist', 'bench', 'peers', 'sharp-resize.js');
  const child = cfg.track(startChild('sharp peer', process.execPath, [peer, `127.0.0.1:${port}`], { cwd: cfg.root }));
  return { child, url: `http://127.0.0.1:${port}`, spawnedAt };
}

const READY: Record<Key, RegExp> = { verge: /^Serving /, sharp: /^sharp peer on / };

export async function resizePhase(cfg: ResizeConfig): Promise<ResizeResults> {
  const seconds = intEnv('BENCH_RESIZE_SECONDS', 10);
  const rounds = intEnv('BENCH_RESIZE_ROUNDS', 2);
  const firstRuns = intEnv('BENCH_RESIZE_FIRST_RUNS', 3);
  const warmup = Math.min(3, Math.max(1, Math.round(seconds / 4)));
  const connections = (process.env.BENCH_RESIZE_CONNECTIONS ?? '1,2,8').split(',').map((s) => Number(s.trim()));
  if (connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1000)) throw new Error(`BENCH_RESIZE_CONNECTIONS: ${process.env.BENCH_RESIZE_CONNECTIONS}`);

  const app = path.join(cfg.root, 'examples', 'image-resize');
  cfg.log('resize: building examples/image-resize (verge build examples/image-resize)');
  const build = spawnSync(process.execPath, [cfg.vergeBin, 'build', 'examples/image-resize'], { cwd: cfg.root, env: childEnv(), encoding: 'utf8', timeout: 600_000 });
  if (build.status !== 0) throw new Error(`verge build examples/image-resize failed (${build.status}):\n${build.stderr}`);
  const moduleBytes = statSync(path.join(app, 'target', 'wasm32-wasi', 'release', 'image-resize.wasm')).size;

  const dir = path.join(cfg.work, 'resize');
  mkdirSync(dir, { recursive: true });
  const photo = await makePhoto();
  const photoFile = path.join(dir, 'photo-1600x1200.jpg');
  writeFileSync(photoFile, photo);
  const script = path.join(dir, 'post.lua');
  writeFileSync(
    script,
    [`local f = assert(io.open(${JSON.stringify(photoFile)}, "rb"))`, 'wrk.method = "POST"', 'wrk.body = f:read("*a")', 'f:close()', 'wrk.headers["Content-Type"] = "image/jpeg"', ''].join('\n'),
  );
  cfg.log(`resize: input ${photoFile} (${fmtInt(photo.length)} bytes), module ${fmtInt(moduleBytes)} bytes; ${rounds} rounds × c${connections.join('/c')} × ${seconds} s (warm-up ${warmup} s)`);

  // First request: fresh processes, one after the other.
  const first: ResizeResults['first'] = { verge: { ready: [], first: [], second: [] }, sharp: { ready: [], first: [], second: [] } };
  for (let i = 0; i < firstRuns; i++) {
    for (const key of ['verge', 'sharp'] as const) {
      const s = key === 'verge' ? await startVerge(cfg, app) : await startSharp(cfg);
      try {
        const readyAt = await s.child.waitForStderr(READY[key], 30_000);
        const a = performance.now();
        const r1 = await post(s.url + PATH, photo);
        const b = performance.now();
        const r2 = await post(s.url + PATH, photo);
        const c = performance.now();
        if (r1.status !== 200 || r2.status !== 200) throw new Error(`${key}: first requests answered ${r1.status}/${r2.status}: ${r1.body.toString('utf8').slice(0, 200)}`);
        first[key].ready.push(readyAt - s.spawnedAt);
        first[key].first.push(b - a);
        first[key].second.push(c - b);
      } finally {
        await stopChild(s.child);
      }
    }
  }
  cfg.log(`resize: first request verge ${fmtMs(median(first.verge.first))}, sharp ${fmtMs(median(first.sharp.first))}`);

  // Load.
  const servers: Server[] = [];
  const outputBytes = { verge: 0, sharp: 0 } as Record<Key, number>;
  try {
    for (const key of ['verge', 'sharp'] as const) {
      const s = key === 'verge' ? await startVerge(cfg, app) : await startSharp(cfg);
      const server: Server = { key, label: key === 'verge' ? 'Verge (image-resize.wasm)' : `sharp ${sharp.versions.sharp} (node:http)`, child: s.child, url: s.url, idleRssKiB: NaN, peakRssKiB: NaN, rounds: new Map() };
      servers.push(server);
      await s.child.waitForStderr(READY[key], 30_000);
      outputBytes[key] = await checkAnswer(server.label, s.url, photo);
      server.idleRssKiB = readMemory(s.child.pid)?.rssKiB ?? NaN;
    }
    for (let round = 0; round < rounds; round++) {
      for (const c of connections) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const s of order) {
          await runWrkPost(s.url + PATH, script, c, warmup);
          const r = await runWrkPost(s.url + PATH, script, c, seconds);
          if (r.non2xx > 0 || r.socketErrors > 0) cfg.notes.push(`resize: ${s.label} c${c} round ${round + 1}: ${r.non2xx} non-2xx answers, ${r.socketErrors} socket errors`);
          const list = s.rounds.get(c) ?? [];
          list.push(r);
          s.rounds.set(c, list);
          cfg.log(`resize round ${round + 1}/${rounds} c${c} ${s.key}: ${fmtInt(r.rps)} req/s, p50 ${fmtMs(r.p50)}, p99 ${fmtMs(r.p99)}`);
        }
      }
    }
    for (const s of servers) {
      s.peakRssKiB = readMemory(s.child.pid)?.hwmKiB ?? NaN;
      await checkAnswer(s.label, s.url, photo);
    }
  } finally {
    await Promise.all(servers.map((s) => stopChild(s.child)));
  }
  return {
    seconds,
    rounds,
    connections,
    inputBytes: photo.length,
    outputBytes,
    moduleBytes,
    vergeCommand: `verge up examples/image-resize --log-level warn${cfg.vergeWorkerArgs.map((a) => ' ' + a).join('')}`,
    servers,
    first,
    sharpVersion: `sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}`,
  };
}

export function renderResize(r: ResizeResults, vergeWorkers: number): string {
  const out: string[] = [];
  const verge = r.servers.find((s) => s.key === 'verge')!;
  const sh = r.servers.find((s) => s.key === 'sharp')!;
  const med = (s: Server, c: number) => {
    const list = s.rounds.get(c);
    return list && list.length ? medianBy(list, (x) => x.rps) : undefined;
  };
  out.push(`### Image resize: ${SRC_W}×${SRC_H} JPEG → ${WIDTH} px wide (Lanczos3, JPEG q85)`);
  out.push('');
  out.push(
    `- Input: a ${fmtInt(r.inputBytes)}-byte ${SRC_W}×${SRC_H} JPEG (q90, noise + gradients, made by sharp), POSTed to \`${PATH}\` by \`wrk -t1 -cN -d${r.seconds}s --latency -s post.lua\`; ` +
      `answers ${WIDTH}×${(SRC_H * WIDTH) / SRC_W} JPEG: Verge ${fmtInt(r.outputBytes.verge)} bytes, sharp ${fmtInt(r.outputBytes.sharp)} bytes (both decoded and checked before and after the load).`,
  );
  out.push(
    `- Verge: \`${r.vergeCommand}\` (at most ${vergeWorkers} workers, elastic, 1 kept idle), examples/image-resize: Rust on verge-sdk, image 0.24's JPEG decoder with shrink-on-load (DCT scaling to ≥ 2× the output), its own Lanczos3 in wasm SIMD and its own baseline JPEG encoder (4:2:0); ` +
      `a fresh instance per request. sharp: bench/peers/sharp-resize.ts, \`sharp(body).resize({ width: ${WIDTH}, kernel: 'lanczos3' }).jpeg({ quality: 85 })\` in node:http (${r.sharpVersion}; its defaults: libvips threads = cores, shrink-on-load, which for an exact 4× also decodes at 1/2, 4:2:0, optimized Huffman tables).`,
  );
  out.push(`- ${r.rounds} rounds per connection count, servers alternating, a warm-up before each measurement; the median round by req/s. This part alone: \`BENCH_ONLY=resize npm run bench\`.`);
  out.push('');
  const rows: string[][] = [];
  for (const c of r.connections) {
    const v = med(verge, c);
    const s = med(sh, c);
    if (!v || !s) continue;
    rows.push([`c${c}`, fmtInt(v.rps), fmtMs(v.p50), fmtMs(v.p99), fmtInt(s.rps), fmtMs(s.p50), fmtMs(s.p99), fmtRatio(v.rps / s.rps), fmtRatio(v.p50 / s.p50)]);
  }
  out.push(table(['connections', 'Verge req/s', 'Verge p50', 'Verge p99', 'sharp req/s', 'sharp p50', 'sharp p99', 'req/s Verge ÷ sharp', 'p50 Verge ÷ sharp'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push('');
  out.push(
    table(
      ['server', 'idle RSS', 'peak RSS (VmHWM, whole run)', 'spawn → ready', 'first request', 'second request'],
      [verge, sh].map((s) => [s.label, fmtMiB(s.idleRssKiB), fmtMiB(s.peakRssKiB), fmtMs(median(r.first[s.key].ready)), fmtMs(median(r.first[s.key].first)), fmtMs(median(r.first[s.key].second))]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    `Module: examples/image-resize/target/wasm32-wasi/release/image-resize.wasm, ${fmtInt(r.moduleBytes)} bytes. First/second request: medians of ${r.first.verge.first.length} fresh starts, each request on a new connection, timed from the server's ready line.`,
  );
  out.push('');
  return out.join('\n');
}
