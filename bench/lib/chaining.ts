/**
 * Service chaining (docs/composition.md): the cost of one chained call against one outbound call
 * to a server on loopback. One `verge up --workers 1 --log-level warn` serves three WAT guests
 * that read a URL from a variable and GET it N times per request (http_send, status,
 * http_response_body, http_close):
 *
 *   chain — the URL is http://hello.verge.internal/api/hello: a route-less WAT component answering
 *           the same 30-byte JSON as the origin, run in a fresh instance per call in the caller's
 *           worker. Its timeout_ms is its caller's (as when both keep the default), so its
 *           deadline is its caller's and nothing more bounds it;
 *   short — the same call to a copy of hello whose own timeout_ms (1 s) comes before its caller's,
 *           so the call is bounded on its own (a watchdog thread per call, sandbox/chained.ts);
 *   net   — the URL is the node:http peer on 127.0.0.1 (a separate process);
 *   none  — N = 0, only the variable read: the request's own cost.
 *
 * A call costs (request − none) ÷ N. Requests go one at a time on fresh connections, the three
 * kinds interleaved per round (order rotated) so load drift hits them alike; warm-up rounds are
 * not counted.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { outboundLoop } from './guests.js';
import { compileWat } from './bigmodule.js';
import { freePort, httpGet, intEnv, pollUntil200, startChild, stopChild, type Child } from './proc.js';
import { fmtMs, fmtRatio, median, table } from './report.js';

export interface ChainingConfig {
  root: string;
  work: string;
  vergeBin: string;
  nodePeer: string;
  log: (line: string) => void;
  notes: string[];
  track: (c: Child) => Child;
}

type Kind = 'chain' | 'short' | 'net' | 'none';

export interface ChainingResults {
  calls: number;
  requests: number;
  warmup: number;
  vergeCommand: string;
  /** Wall time of each counted request, ms, by kind. */
  ms: Record<Kind, number[]>;
}

const HELLO_BODY = '{"message":"Hello from Wasm!"}';

/** A route-less component answering like the origin: `GET /api/hello` → the hello JSON. */
function helloWat(): string {
  const text = `content-type: application/json\n\n${HELLO_BODY}`;
  const bytes = [...Buffer.from(text)].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('');
  return `(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory 1)
    (data (i32.const 1024) "${bytes}")
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 1024))
      (i32.store (i32.const 4) (i32.const ${Buffer.byteLength(text)}))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;
}

async function writeApp(dir: string, originUrl: string, calls: number): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: Record<string, Uint8Array> = {
    'chain.wasm': await outboundLoop('to_chain', calls),
    'short.wasm': await outboundLoop('to_quick', calls),
    'net.wasm': await outboundLoop('to_net', calls),
    'none.wasm': await outboundLoop('to_net', 0),
    'hello.wasm': await compileWat('hello.wat', helloWat()),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(path.join(dir, name), bytes);
  const limits = 'limits = { timeout_ms = 120000 }';
  writeFileSync(
    path.join(dir, 'verge.toml'),
    [
      '[application]',
      'name = "bench-chaining"',
      '',
      '[variables]',
      'to_chain = { default = "http://hello.verge.internal/api/hello" }',
      'to_quick = { default = "http://quick.verge.internal/api/hello" }',
      `to_net = { default = "${originUrl}/api/hello" }`,
      '',
      ...(['chain', 'short', 'net', 'none'] as const).flatMap((k) => ['[[route]]', `path = "/${k}"`, `component = "${k}"`, '']),
      '[component.chain]',
      'source = "chain.wasm"',
      'variables = ["to_chain"]',
      'allowed_outbound_hosts = ["http://hello.verge.internal"]',
      limits,
      '',
      '[component.short]',
      'source = "short.wasm"',
      'variables = ["to_quick"]',
      'allowed_outbound_hosts = ["http://quick.verge.internal"]',
      limits,
      '',
      '[component.net]',
      'source = "net.wasm"',
      'variables = ["to_net"]',
      'allowed_outbound_hosts = ["http://127.0.0.1:*"]',
      limits,
      '',
      '[component.none]',
      'source = "none.wasm"',
      'variables = ["to_net"]',
      limits,
      '',
      '# Reached only by chaining: hello with its caller\'s timeout_ms, quick with a shorter one of its own.',
      '[component.hello]',
      'source = "hello.wasm"',
      limits,
      '',
      '[component.quick]',
      'source = "hello.wasm"',
      'limits = { timeout_ms = 1000 }',
      '',
    ].join('\n'),
  );
}

export async function chainingPhase(cfg: ChainingConfig): Promise<ChainingResults> {
  const calls = intEnv('BENCH_CHAIN_CALLS', 20);
  const requests = intEnv('BENCH_CHAIN_REQUESTS', 40);
  const warmup = intEnv('BENCH_CHAIN_WARMUP', 5);
  const dir = path.join(cfg.work, 'chaining');
  const originPort = await freePort();
  const origin = cfg.track(startChild('origin (node:http)', process.execPath, [cfg.nodePeer, `127.0.0.1:${originPort}`], { cwd: cfg.root }));
  const originUrl = `http://127.0.0.1:${originPort}`;
  let verge: Child | undefined;
  const result: ChainingResults = { calls, requests, warmup, vergeCommand: `verge up ${path.relative(cfg.root, dir)} --workers 1 --log-level warn`, ms: { chain: [], short: [], net: [], none: [] } };
  try {
    await pollUntil200(origin, `${originUrl}/api/hello`, 20_000, 10);
    await writeApp(dir, originUrl, calls);
    const port = await freePort();
    verge = cfg.track(startChild('verge (chaining)', process.execPath, [cfg.vergeBin, 'up', dir, '--listen', `127.0.0.1:${port}`, '--workers', '1', '--log-level', 'warn'], { cwd: cfg.root }));
    const base = `http://127.0.0.1:${port}`;
    await pollUntil200(verge, `${base}/none`, 30_000, 10);
    const expected: Record<Kind, string> = { chain: `ok ${calls * HELLO_BODY.length}`, short: `ok ${calls * HELLO_BODY.length}`, net: `ok ${calls * HELLO_BODY.length}`, none: 'ok 0' };
    const kinds: Kind[] = ['chain', 'short', 'net', 'none'];
    cfg.log(`chaining: ${requests} requests × ${calls} calls per kind, ${warmup} warm-up rounds; verge pid ${verge.pid}, origin pid ${origin.pid}`);
    for (let round = 0; round < warmup + requests; round++) {
      for (let i = 0; i < kinds.length; i++) {
        const kind = kinds[(i + round) % kinds.length]!;
        const t0 = performance.now();
        const r = await httpGet(`${base}/${kind}`, 60_000);
        const ms = performance.now() - t0;
        if (r.status !== 200 || r.body !== expected[kind]) throw new Error(`chaining: /${kind} answered ${r.status} ${JSON.stringify(r.body.slice(0, 200))}, expected 200 ${expected[kind]}`);
        if (round >= warmup) result.ms[kind].push(ms);
      }
    }
    cfg.log(`chaining: per call ${fmtMs(perCall(result, 'chain'))} chained, ${fmtMs(perCall(result, 'short'))} chained with its own deadline, ${fmtMs(perCall(result, 'net'))} to loopback`);
  } finally {
    if (verge) await stopChild(verge);
    await stopChild(origin);
  }
  return result;
}

/** One call's cost: the median request with N calls less the median request with none, ÷ N. */
function perCall(r: ChainingResults, kind: Exclude<Kind, 'none'>): number {
  return (median(r.ms[kind]) - median(r.ms.none)) / r.calls;
}

export function renderChaining(r: ChainingResults): string {
  const out: string[] = [];
  out.push('### Service chaining: one chained call against one outbound call to loopback');
  out.push('');
  out.push(
    `- \`${r.vergeCommand}\`: WAT guests that read a URL from a variable and GET it ${r.calls} times per request (http_send, status, http_response_body, http_close). ` +
      '"chained" calls `http://hello.verge.internal/api/hello`, a route-less WAT component answering the 30-byte hello JSON in a fresh instance per call, in the caller\'s worker, with its caller\'s timeout_ms (as when both keep the default: its deadline is its caller\'s); ' +
      '"chained, own deadline" calls a copy of it whose own timeout_ms (1 s) comes first, so each call is bounded on its own (a watchdog thread per call); ' +
      '"loopback" calls the node:http peer (bench/peers/node-http.ts, its own process) on 127.0.0.1 for the same body; "none" makes no call.',
  );
  out.push(
    `- ${r.requests} requests per kind, one at a time on fresh connections, kinds interleaved (order rotated per round), after ${r.warmup} warm-up rounds; ` +
      `a call costs (median request − median "none") ÷ ${r.calls}. ` +
      'This part alone: `BENCH_ONLY=chaining npm run bench` (BENCH_CHAIN_CALLS, BENCH_CHAIN_REQUESTS, BENCH_CHAIN_WARMUP).',
  );
  out.push('');
  const chain = perCall(r, 'chain');
  const short = perCall(r, 'short');
  const net = perCall(r, 'net');
  const row = (label: string, kind: Kind, call: number | undefined) => {
    const ms = r.ms[kind];
    return [label, fmtMs(median(ms)), `${fmtMs(Math.min(...ms))}–${fmtMs(Math.max(...ms))}`, call === undefined ? '—' : fmtMs(call)];
  };
  out.push(
    table(
      ['kind', `request (${r.calls} calls) p50`, 'range', 'per call'],
      [row('chained (hello.verge.internal)', 'chain', chain), row('chained, own deadline (quick.verge.internal)', 'short', short), row('loopback (node:http on 127.0.0.1)', 'net', net), row('none', 'none', undefined)],
      ['l', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(`- A chained call costs ${fmtRatio(chain / net)} an outbound call to loopback; ${fmtRatio(short / net)} when its own deadline comes first.`);
  out.push('');
  return out.join('\n');
}
