/** The shared capability cases (capability-cases.ts) through a WAGI guest and verge:v1. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCapabilityCases } from './capability-cases.js';

const SOURCE = fileURLToPath(new URL('../../../test/fixtures/capability-probe.c', import.meta.url));

async function buildProbe(): Promise<Uint8Array> {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-capability-probe-')), 'probe.wasm');
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', out, SOURCE], { stdio: 'inherit' });
  return readFileSync(out);
}

runCapabilityCases('a WAGI guest (verge:v1)', buildProbe);
