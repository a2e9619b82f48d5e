/**
 * The `signing` part: what signed modules cost a node. Two generated WAGI modules (~500 KB and
 * ~13 MB of code, the size of a ComponentizeJS component, from bench/lib/bigmodule.ts) are
 * signed and verified in-process through the API the node uses (`loadTrustPolicy`, with a
 * revocation list, so its per-verification stat is included): embedded with one signer, detached,
 * and embedded with three signers against three trusted keys. For scale, the same bytes' SHA-256
 * alone (the floor: verification hashes every byte once) and `WebAssembly.compile`.
 *
 * Knobs: BENCH_SIGNING_RUNS (21 timed runs per figure, after 3 untimed), BENCH_SIGNING_SIZES_KB
 * ("500,13000").
 */
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadTrustPolicy, readSigningKey, signModule, signModuleDetached, writeKeyPair, type SigningKey } from '../../src/signing/index.js';
import { buildBigModule } from './bigmodule.js';
import { intEnv } from './proc.js';
import { fmtInt, fmtMs, median, table } from './report.js';

export interface SigningConfig {
  work: string;
  log: (line: string) => void;
}

interface Row {
  bytes: number;
  functions: number;
  sign: number[];
  verifyEmbedded: number[];
  verifyDetached: number[];
  verifyThree: number[];
  sha256: number[];
  compile: number[];
}

export interface SigningResults {
  runs: number;
  rows: Row[];
}

const WARMUP_RUNS = 3;

function time(runs: number, fn: () => unknown): number[] {
  for (let i = 0; i < WARMUP_RUNS; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

async function timeAsync(runs: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export async function signingPhase(cfg: SigningConfig): Promise<SigningResults> {
  const runs = intEnv('BENCH_SIGNING_RUNS', 21);
  const sizes = (process.env.BENCH_SIGNING_SIZES_KB ?? '500,13000').split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SIGNING_SIZES_KB: ${JSON.stringify(s)} is not a size in KB`);
    return n;
  });
  const dir = path.join(cfg.work, 'signing');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const keys: SigningKey[] = [];
  const publicFiles: string[] = [];
  for (const name of ['a', 'b', 'c']) {
    const written = writeKeyPair(path.join(dir, name));
    keys.push(readSigningKey(written.keyFile));
    publicFiles.push(written.publicFile);
  }
  const revocationFile = path.join(dir, 'revoked.txt');
  writeFileSync(revocationFile, '# nothing revoked: the stat per verification is still paid\n');
  const one = loadTrustPolicy({ trustKeyFiles: publicFiles.slice(0, 1), revocationFile });
  const three = loadTrustPolicy({ trustKeyFiles: publicFiles, revocationFile });

  const rows: Row[] = [];
  for (const kb of sizes) {
    cfg.log(`signing: generating a ~${kb} KB module with wabt`);
    const { bytes, functions } = await buildBigModule(kb * 1000);
    const [a, b, c] = keys as [SigningKey, SigningKey, SigningKey];
    const embedded = signModule(bytes, a, 'bench.wasm').module;
    const detached = signModuleDetached(bytes, a, undefined, 'bench.wasm').signature;
    const threeSigners = signModule(signModule(embedded, b, 'bench.wasm').module, c, 'bench.wasm').module;
    // Each figure checks its answer once, so a broken verification cannot look fast.
    if (three.verifyModule(threeSigners, undefined, 'bench.wasm').signers.length !== 3) throw new Error('signing bench: three signers expected');
    one.verifyModule(bytes, detached, 'bench.wasm');
    cfg.log(`signing: ${fmtInt(bytes.length)} bytes, ${runs} runs per figure`);
    rows.push({
      bytes: bytes.length,
      functions,
      sign: time(runs, () => signModule(bytes, a, 'bench.wasm')),
      verifyEmbedded: time(runs, () => one.verifyModule(embedded, undefined, 'bench.wasm')),
      verifyDetached: time(runs, () => one.verifyModule(bytes, detached, 'bench.wasm')),
      verifyThree: time(runs, () => three.verifyModule(threeSigners, undefined, 'bench.wasm')),
      sha256: time(runs, () => createHash('sha256').update(bytes).digest()),
      compile: await timeAsync(Math.min(runs, 5), () => WebAssembly.compile(bytes)),
    });
  }
  rmSync(dir, { recursive: true, force: true });
  return { runs, rows };
}

export function renderSigning(r: SigningResults): string {
  const out: string[] = [];
  out.push(`### Signed modules: sign and verify in-process (median of ${r.runs} runs, min in brackets)`);
  out.push('');
  const cell = (xs: number[]) => `${fmtMs(median(xs))} (${fmtMs(Math.min(...xs))})`;
  out.push(
    table(
      ['module', 'sign (embedded, 1 key)', 'verify embedded, 1 signer', 'verify detached', 'verify embedded, 3 signers, 3 trusted keys', 'SHA-256 alone', 'WebAssembly.compile', 'verify ÷ compile'],
      r.rows.map((row) => [
        `${fmtInt(row.bytes)} bytes (${fmtInt(row.functions)} functions)`,
        cell(row.sign),
        cell(row.verifyEmbedded),
        cell(row.verifyDetached),
        cell(row.verifyThree),
        cell(row.sha256),
        cell(row.compile),
        `${((100 * median(row.verifyEmbedded)) / median(row.compile)).toFixed(0)} %`,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'Verification through `loadTrustPolicy(...).verifyModule` (the call the node makes on upload and on every load from disk): section framing, ' +
      'SHA-256 over every section, one Ed25519 verification per signature and trusted key tried, one stat of the revocation list. ' +
      'The module is generated WAT compiled by wabt (bench/lib/bigmodule.ts); WebAssembly.compile is V8 on the same bytes (Liftoff, tier-up in the background), 5 runs at most.',
  );
  out.push('');
  return out.join('\n');
}
