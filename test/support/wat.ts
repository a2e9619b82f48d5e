/** Compiles WebAssembly text with wabt (npm), and the WAT snippets hostile test guests share. */
import wabtInit from 'wabt';

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

export async function wat(source: string): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const mod = wabt.parseWat('guest.wat', source);
  try {
    mod.validate();
    return new Uint8Array(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}

/** A WAT string literal for arbitrary text. */
export function watString(text: string): string {
  return '"' + [...Buffer.from(text, 'utf8')].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('') + '"';
}

export const FD_WRITE = '(import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))';

/**
 * A function `$respond` that writes `text` (placed at offset 1024) to stdout; needs $fd_write and
 * a memory. Uses bytes 0..16 as the iovec and the nwritten slot.
 */
export function respondWith(text: string): string {
  const len = Buffer.byteLength(text);
  return `
  (data (i32.const 1024) ${watString(text)})
  (func $respond
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const ${len}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`;
}

/** A function `$sleep_ms` (param i32) that sleeps through poll_oneoff on the monotonic clock; uses bytes 256..640. */
export const SLEEP = `
  (func $sleep_ms (param $ms i32)
    (i64.store (i32.const 256) (i64.const 0))
    (i32.store8 (i32.const 264) (i32.const 0))
    (i32.store (i32.const 272) (i32.const 1))
    (i64.store (i32.const 280) (i64.mul (i64.extend_i32_u (local.get $ms)) (i64.const 1000000)))
    (i64.store (i32.const 288) (i64.const 0))
    (i32.store16 (i32.const 296) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))))`;
export const POLL_ONEOFF = '(import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))';
