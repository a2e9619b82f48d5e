/**
 * What the node's log costs a request: nanoseconds per access-log call, as pino wrote it before
 * the log ring (JSON only), with the ring fed from the logMethod hook (now), with a follower
 * (GET /v1/logs?follow=1) receiving every record, in pretty mode, and with the alternative not
 * taken: a ring fed by parsing each JSON line back. Lines go to a sink that drops them, so the
 * figures are CPU on the logging thread, not write(2).
 *
 * Run: npm run build && node dist/bench/logging.js   (BENCH_LOG_CALLS, default 200000)
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogger, type LoggerOptions } from '../src/telemetry/logging.js';
import { createLogRing, type LogRing } from '../src/telemetry/log-ring.js';
import { recordJson } from '../src/telemetry/log-record.js';

const CALLS = Number(process.env.BENCH_LOG_CALLS ?? 200_000);
const ROUNDS = 7;
/** Calls per turn of the event loop: a busy node logs many requests between turns. */
const PER_TURN = 1000;

const drop = { write: (_line: string) => undefined };

function accessLine(i: number): Record<string, unknown> {
  return {
    request_id: `6f1c0e2a-8b7d-4c51-9a3e-${String(i).padStart(12, '0')}`,
    app: 'shop',
    method: 'GET',
    path: '/hello',
    route: '/...',
    component: 'web',
    version: '3f2a9c01d4e5',
    status: 200,
    duration_ms: 1.234,
  };
}

interface Variant {
  name: string;
  setup(): LoggerOptions;
}

const VARIANTS: Variant[] = [
  { name: 'JSON, no ring (before)', setup: () => ({ output: drop }) },
  { name: 'JSON + ring (now)', setup: () => ({ output: drop, ring: createLogRing() }) },
  {
    name: 'JSON + ring + a follower of every record',
    setup: () => {
      const ring = createLogRing();
      // What admin/logs.ts does for each record it streams.
      ring.subscribe({}, (records) => void records.map((r) => `id: ${r.seq}\ndata: ${JSON.stringify(recordJson(r))}\n\n`).join(''));
      return { output: drop, ring };
    },
  },
  { name: 'pretty + ring', setup: () => ({ output: drop, ring: createLogRing(), format: 'pretty' }) },
  {
    name: 'JSON, ring fed by parsing each line (not taken)',
    setup: () => {
      const ring: LogRing = createLogRing();
      return { output: { write: (line: string) => void ring.push([JSON.parse(line) as object], 30) } };
    },
  },
];

async function nsPerCall(opts: LoggerOptions, calls: number): Promise<number> {
  const { logger } = createLogger('info', opts);
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i += PER_TURN) {
    for (let j = i; j < i + PER_TURN; j++) logger.info(accessLine(j), 'request');
    await nextTurn();
  }
  return Number(process.hrtime.bigint() - started) / calls;
}

async function main(): Promise<void> {
  for (const v of VARIANTS) await nsPerCall(v.setup(), Math.min(CALLS, 20_000));
  // Rounds alternate between the variants, so a busy moment on a shared machine hits them alike.
  const runs = VARIANTS.map(() => [] as number[]);
  for (let r = 0; r < ROUNDS; r++) for (const [i, v] of VARIANTS.entries()) runs[i]!.push(await nsPerCall(v.setup(), CALLS));
  const rows = VARIANTS.map((v, i) => {
    const sorted = runs[i]!.sort((a, b) => a - b);
    return { name: v.name, ns: sorted[Math.floor(ROUNDS / 2)]!, min: sorted[0]! };
  });
  const base = rows[0]!;
  console.log(`| logger | ns per access-log call, median of ${ROUNDS} rounds × ${CALLS} calls (min) | vs before, median (min) |`);
  console.log('|---|---:|---:|');
  const delta = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(0)}`;
  for (const m of rows) console.log(`| ${m.name} | ${m.ns.toFixed(0)} (${m.min.toFixed(0)}) | ${delta(m.ns - base.ns)} (${delta(m.min - base.min)}) ns |`);
}

await main();
