/** The WAGI capability probe (test/fixtures/capability-probe.c), built with clang for wasm32-wasi. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../../../test/fixtures/capability-probe.c', import.meta.url));

export function buildCapabilityProbe(): Uint8Array {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-capability-probe-')), 'probe.wasm');
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', out, SOURCE], { stdio: 'inherit' });
  return readFileSync(out);
}
