/** Compiles WebAssembly text with wabt (npm), and the WAT snippets hostile test guests share. */
import wabtInit from 'wabt';

let wabt: Awaited<ReturnType<typeof wabtInit>> | undefined;

/** names: keep the `$names` in a name section, as a toolchain's debug names would be. */
export async function wat(source: string, opts: { names?: boolean } = {}): Promise<Uint8Array> {
  wabt ??= await wabtInit();
  const mod = wabt.parseWat('guest.wat', source);
  try {
    mod.validate();
    return new Uint8Array(mod.toBinary({ write_debug_names: opts.names === true }).buffer);
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

/** verge:v1 imports (docs/abi.md) for WAT test guests. */
export const VERGE = `
  (import "verge:v1" "kv_open" (func $kv_open (param i32 i32) (result i32)))
  (import "verge:v1" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "kv_increment" (func $kv_increment (param i32 i32 i32 i64 i32) (result i32)))
  (import "verge:v1" "variable_get" (func $variable_get (param i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "verge:v1" "http_send" (func $http_send (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "http_response_status" (func $http_response_status (param i32) (result i32)))
  (import "verge:v1" "http_response_body" (func $http_response_body (param i32 i32 i32) (result i32)))
  (import "verge:v1" "http_close" (func $http_close (param i32) (result i32)))`;

/**
 * `$write` (param ptr len) writes bytes to stdout; `$answer` (param status-text-ptr len) writes a
 * `content-type: text/plain` header block. Uses bytes 0..16 for the iovec.
 */
export const WRITE = `
  (func $write (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`;

/** A data segment placing `text` at `offset`; returns [segment, length]. */
export function at(offset: number, text: string): [string, number] {
  return [`(data (i32.const ${offset}) ${watString(text)})`, Buffer.byteLength(text)];
}

/**
 * A guest that answers with its whole environment, NUL-separated (read it with parseEnvironment),
 * after `head`, its CGI header block.
 */
export function environmentEcho(head = 'content-type: text/plain\n\n'): Promise<Uint8Array> {
  const [header, headerLength] = at(1024, head);
  return wat(`(module
    (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
    ${FD_WRITE} (memory 2) ${header} ${WRITE}
    (func (export "_start")
      (drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
      (drop (call $environ_get (i32.const 4096) (i32.const 16384)))
      (call $write (i32.const 1024) (i32.const ${headerLength}))
      (call $write (i32.const 16384) (i32.load (i32.const 20)))))`);
}

/** The NAME=value entries an environmentEcho guest answered with. */
export function parseEnvironment(body: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of body.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** A guest that sleeps `ms` (through poll_oneoff), then answers "slept". */
export function sleeper(ms: number): Promise<Uint8Array> {
  return wat(`(module ${FD_WRITE} ${POLL_ONEOFF} (memory 1) ${respondWith('content-type: text/plain\n\nslept')} ${SLEEP}
    (func (export "_start") (call $sleep_ms (i32.const ${ms})) (call $respond)))`);
}
