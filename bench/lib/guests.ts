/**
 * WAT guests for the capability benchmarks (verge:v1, docs/abi.md), compiled with the `wabt`
 * package like the test guests in test/support/capability-guests.ts (same approach, own copy so
 * the bench does not depend on test code).
 *
 * Every guest answers `200 text/plain` with `ok <n>` on success, where `<n>` is a checksum the
 * harness verifies (bytes read back). A negative ABI status (or a wrong status/length) ends the
 * request with `500 text/plain` and `error:<decimal>`.
 *
 * Memory layout (2 pages): 0..16 iovec; 100 names; 300/340 header blocks; 1000 the 100-byte value;
 * keys are built by an itoa loop ending at 4200 ("k" + decimal i); 4096.. outbound URL;
 * 8192.. output buffer for kv_get / http_response_body.
 */
import { compileWat } from './bigmodule.js';

const OK_HEAD = 'content-type: text/plain\n\nok ';
const FAIL_HEAD = 'status: 500\ncontent-type: text/plain\n\nerror:';
const VALUE_AT = 1000;
export const KV_VALUE_BYTES = 100;

function watString(text: string): string {
  return '"' + [...Buffer.from(text, 'utf8')].map((b) => '\\' + b.toString(16).padStart(2, '0')).join('') + '"';
}

function at(offset: number, text: string): [string, number] {
  return [`(data (i32.const ${offset}) ${watString(text)})`, Buffer.byteLength(text)];
}

const IMPORTS = `
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "verge:v1" "kv_open" (func $kv_open (param i32 i32) (result i32)))
  (import "verge:v1" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "variable_get" (func $variable_get (param i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "http_send" (func $http_send (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "verge:v1" "http_response_status" (func $http_response_status (param i32) (result i32)))
  (import "verge:v1" "http_response_body" (func $http_response_body (param i32 i32 i32) (result i32)))
  (import "verge:v1" "http_close" (func $http_close (param i32) (result i32)))`;

function guest(body: string, segments: string[]): Promise<Uint8Array> {
  const [okSeg, okLen] = at(300, OK_HEAD);
  const [failSeg, failLen] = at(340, FAIL_HEAD);
  return compileWat(
    'bench-guest.wat',
    `(module ${IMPORTS} (memory 2)
    ${okSeg} ${failSeg} ${segments.join(' ')}
    (func $write (param $p i32) (param $n i32)
      (i32.store (i32.const 0) (local.get $p))
      (i32.store (i32.const 4) (local.get $n))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
    ;; decimal digits of an unsigned i32, ending at 4200; returns where they start
    (func $itoa (param $v i32) (result i32) (local $p i32)
      (local.set $p (i32.const 4200))
      (loop $l
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
        (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
        (br_if $l (i32.ne (local.get $v) (i32.const 0))))
      (local.get $p))
    (func $answer (param $n i32) (local $p i32)
      (call $write (i32.const 300) (i32.const ${okLen}))
      (local.set $p (call $itoa (local.get $n)))
      (call $write (local.get $p) (i32.sub (i32.const 4200) (local.get $p))))
    ;; error:<-code> (codes are negative ABI statuses, or made-up ones below -100)
    (func $fail (param $code i32) (local $p i32)
      (call $write (i32.const 340) (i32.const ${failLen}))
      (local.set $p (call $itoa (i32.sub (i32.const 0) (local.get $code))))
      (call $write (local.get $p) (i32.sub (i32.const 4200) (local.get $p))))
    ${body})`,
  );
}

/**
 * Opens `store`, then `ops` times: key "k<i>" (i = 0..ops-1), kv_set of the 100-byte value or
 * kv_get into an 8 KiB buffer (every value must be found and be 100 bytes). Answers `ok <bytes>`:
 * bytes written or read, ops × 100. With ops = 0 it only opens the store (the per-request baseline).
 *
 * Every kv_set writes a value different from the one stored: 8 random bytes per request (WASI
 * random_get), then i as a little-endian i32, then filler. SQLite skips writing a row whose new
 * content is byte-identical (no dirty page, no WAL frame, no fsync), which would hide the cost of
 * a commit.
 */
export function kvLoop(op: 'get' | 'set', store: string, ops: number): Promise<Uint8Array> {
  const [storeSeg, storeLen] = at(100, store);
  const value = Array.from({ length: KV_VALUE_BYTES }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
  const [valueSeg] = at(VALUE_AT, value);
  const call =
    op === 'set'
      ? `(local.set $r (call $kv_set (local.get $h) (local.get $k) (i32.sub (i32.const 4200) (local.get $k)) (i32.const ${VALUE_AT}) (i32.const ${KV_VALUE_BYTES})))
         (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $fail (local.get $r)) (return)))
         (local.set $total (i32.add (local.get $total) (i32.const ${KV_VALUE_BYTES})))`
      : `(local.set $r (call $kv_get (local.get $h) (local.get $k) (i32.sub (i32.const 4200) (local.get $k)) (i32.const 8192) (i32.const 8192)))
         (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $fail (local.get $r)) (return)))
         (if (i32.ne (local.get $r) (i32.const ${KV_VALUE_BYTES})) (then (call $fail (i32.const -101)) (return)))
         (local.set $total (i32.add (local.get $total) (local.get $r)))`;
  return guest(
    `(func (export "_start") (local $h i32) (local $r i32) (local $i i32) (local $k i32) (local $total i32)
      (local.set $h (call $kv_open (i32.const 100) (i32.const ${storeLen})))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $fail (local.get $h)) (return)))
      ${op === 'set' ? `(drop (call $random_get (i32.const ${VALUE_AT}) (i32.const 8)))` : ''}
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${ops})))
        ${op === 'set' ? `(i32.store (i32.const ${VALUE_AT + 8}) (local.get $i))` : ''}
        ;; key = "k" followed by the decimal digits of i
        (local.set $k (i32.sub (call $itoa (local.get $i)) (i32.const 1)))
        (i32.store8 (local.get $k) (i32.const 107))
        ${call}
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (call $answer (local.get $total)))`,
    [storeSeg, valueSeg],
  );
}

/**
 * Reads the URL from variable `urlVariable`, then `calls` times: http_send GET, the status must be
 * 200, http_response_body into a 64 KiB buffer, http_close. Answers `ok <bytes>`: the body bytes
 * received in all. With calls = 0 it only reads the variable (the per-request baseline).
 */
export function outboundLoop(urlVariable: string, calls: number): Promise<Uint8Array> {
  const [nameSeg, nameLen] = at(100, urlVariable);
  const [getSeg] = at(200, 'GET');
  return guest(
    `(func (export "_start") (local $n i32) (local $h i32) (local $b i32) (local $i i32) (local $total i32)
      (local.set $n (call $variable_get (i32.const 100) (i32.const ${nameLen}) (i32.const 4096) (i32.const 2048)))
      (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $fail (local.get $n)) (return)))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${calls})))
        (local.set $h (call $http_send (i32.const 200) (i32.const 3) (i32.const 4096) (local.get $n)
          (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
        (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $fail (local.get $h)) (return)))
        (if (i32.ne (call $http_response_status (local.get $h)) (i32.const 200)) (then (call $fail (i32.const -102)) (return)))
        (local.set $b (call $http_response_body (local.get $h) (i32.const 8192) (i32.const 65536)))
        (if (i32.lt_s (local.get $b) (i32.const 0)) (then (call $fail (local.get $b)) (return)))
        (local.set $total (i32.add (local.get $total) (local.get $b)))
        (drop (call $http_close (local.get $h)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (call $answer (local.get $total)))`,
    [nameSeg, getSeg],
  );
}
