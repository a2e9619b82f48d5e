/** `verge doctor` with this machine's real toolchains, and with a PATH that hides them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runVerge } from '../support/verge-process.js';

/** An app whose component builds with cargo (a crate beside the manifest). */
function rustApp(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-doctor-'));
  writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = "rusty"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\n[component.web.build]\ncommand = "cargo build --release --target wasm32-wasi"\n`);
  writeFileSync(path.join(dir, 'Cargo.toml'), '[package]\nname = "rusty"\nversion = "0.1.0"\nedition = "2021"\n');
  mkdirSync(path.join(dir, 'src'));
  return dir;
}

const line = (out: string, name: string) => out.split('\n').find((l) => l.includes(`  ${name}: `)) ?? `(no ${name} line in)\n${out}`;

test('verge doctor reports the Debian Rust and clang toolchains of this machine ok', { skip: !existsSync('/usr/bin/rustc') && 'no Debian rustc here' }, async () => {
  const r = await runVerge(['doctor', rustApp(), '--listen', '127.0.0.1:0']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(line(r.stdout, 'rust'), /^ok {4}rust: \S+rustc \(rustc [\d.]+.*\) has the wasm32-wasip?1? ?target \[needed by rusty\]/);
  assert.match(line(r.stdout, 'clang'), /^ok {4}clang: \S*clang compiles and links for wasm32-wasi/);
  assert.match(line(r.stdout, 'rusty data dir'), /^ok/);
  assert.match(line(r.stdout, 'listen'), /^ok/);
});

test('verge doctor fails with the fix when PATH hides the toolchains an app needs', async () => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'verge-doctor-path-'));
  const r = await runVerge(['doctor', rustApp(), '--listen', '127.0.0.1:0'], { env: { PATH: empty, RUSTC: '' } });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(line(r.stdout, 'rust'), /^fail {2}rust: no rustc and cargo on PATH; fix: apt-get install rustc cargo libstd-rust-dev-wasm32 .*\[needed by rusty\]/);
  assert.match(line(r.stdout, 'clang'), /^fail {2}clang: no clang on PATH; fix: apt-get install clang lld wasi-libc/);
  assert.match(r.stderr, /an app needs what failed/);
});

test('verge doctor warns about a rustup toolchain without the WASI target ahead of Debian on PATH', { skip: !existsSync(path.join(os.homedir(), '.cargo/bin/rustc')) && 'no rustup toolchain here' }, async () => {
  const r = await runVerge(['doctor', rustApp(), '--listen', '127.0.0.1:0'], { env: { PATH: `${path.join(os.homedir(), '.cargo/bin')}:/usr/bin:/bin`, RUSTC: '' } });
  const first = line(r.stdout, 'rust-path');
  // A rustup toolchain that has the target is fine too: then nothing is wrong.
  if (first.startsWith('ok')) return;
  assert.match(first, /^warn {2}rust-path: \S+\.cargo\/bin\/rustc .* is first on PATH and has no WASI target.*fix: build with \/usr\/bin\/cargo and RUSTC=\/usr\/bin\/rustc/);
  assert.equal(r.code, 0, 'a warning alone does not fail the doctor');
});
