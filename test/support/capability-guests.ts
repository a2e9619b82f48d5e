/**
 * Small WAT guests that exercise verge:v1 end to end. Each answers its result as text/plain; a
 * negative ABI status becomes a body `error:N` (N = -status, one digit) with status 500, so a
 * test can assert the exact code the host returned.
 */
import { FD_WRITE, VERGE, WRITE, at, wat } from './wat.js';

const OK_HEAD = 'content-type: text/plain\n\n';
const FAIL_HEAD = 'status: 500\ncontent-type: text/plain\n\nerror:';

function guest(body: string, segments: string[]): Promise<Uint8Array> {
  const [okSeg, okLen] = at(300, OK_HEAD);
  const [failSeg, failLen] = at(340, FAIL_HEAD);
  return wat(`(module ${FD_WRITE} ${VERGE} (memory 2) ${WRITE}
    ${okSeg} ${failSeg} ${segments.join(' ')}
    (func $ok (call $write (i32.const 300) (i32.const ${okLen})))
    (func $fail (param $code i32)
      (call $write (i32.const 340) (i32.const ${failLen}))
      (i32.store8 (i32.const 90) (i32.sub (i32.const 48) (local.get $code)))
      (call $write (i32.const 90) (i32.const 1)))
    ;; the three decimal digits of an HTTP status, at 80..82
    (func $status3 (param $s i32)
      (i32.store8 (i32.const 80) (i32.add (i32.const 48) (i32.div_u (local.get $s) (i32.const 100))))
      (i32.store8 (i32.const 81) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $s) (i32.const 10)) (i32.const 10))))
      (i32.store8 (i32.const 82) (i32.add (i32.const 48) (i32.rem_u (local.get $s) (i32.const 10)))))
    ;; decimal digits of an unsigned i64, ending at 4200; returns where they start
    (func $itoa (param $v i64) (result i32) (local $p i32)
      (local.set $p (i32.const 4200))
      (loop $l
        (local.set $p (i32.sub (local.get $p) (i32.const 1)))
        (i64.store8 (local.get $p) (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
        (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
        (br_if $l (i64.ne (local.get $v) (i64.const 0))))
      (local.get $p))
    ${body})`);
}

/** Increments `hits` in `store` and answers the value the increment returned, in decimal. */
export function counter(store: string): Promise<Uint8Array> {
  const [storeSeg, storeLen] = at(100, store);
  const [keySeg, keyLen] = at(200, 'hits');
  return guest(
    `(func (export "_start") (local $h i32) (local $r i32)
      (local.set $h (call $kv_open (i32.const 100) (i32.const ${storeLen})))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $fail (local.get $h)) (return)))
      (local.set $r (call $kv_increment (local.get $h) (i32.const 200) (i32.const ${keyLen}) (i64.const 1) (i32.const 64)))
      (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $fail (local.get $r)) (return)))
      (call $ok)
      (local.set $r (call $itoa (i64.load (i32.const 64))))
      (call $write (local.get $r) (i32.sub (i32.const 4200) (local.get $r))))`,
    [storeSeg, keySeg],
  );
}

/** Answers the value of variable `name`. */
export function variableEcho(name: string): Promise<Uint8Array> {
  const [nameSeg, nameLen] = at(100, name);
  return guest(
    `(func (export "_start") (local $r i32)
      (local.set $r (call $variable_get (i32.const 100) (i32.const ${nameLen}) (i32.const 4096) (i32.const 4096)))
      (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $fail (local.get $r)) (return)))
      (call $ok)
      (call $write (i32.const 4096) (local.get $r)))`,
    [nameSeg],
  );
}

/** Logs `message` at info `times` times, then answers "logged". */
export function logger(message: string, times: number): Promise<Uint8Array> {
  const [msgSeg, msgLen] = at(100, message);
  const [doneSeg, doneLen] = at(1000, 'logged');
  return guest(
    `(func (export "_start") (local $i i32)
      (block $out (loop $l
        (br_if $out (i32.ge_u (local.get $i) (i32.const ${times})))
        (drop (call $log (i32.const 2) (i32.const 100) (i32.const ${msgLen})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l)))
      (call $ok)
      (call $write (i32.const 1000) (i32.const ${doneLen})))`,
    [msgSeg, doneSeg],
  );
}

/**
 * WAT that reads the URL from the variable named at `nameAt` (into 4096), GETs it ("GET" at
 * `getAt`), and leaves the response handle in $h and its status in $status ($n, $h, $status are
 * the caller's locals).
 */
function getFromVariable(nameAt: number, nameLen: number, getAt: number): string {
  return `(local.set $n (call $variable_get (i32.const ${nameAt}) (i32.const ${nameLen}) (i32.const 4096) (i32.const 2048)))
      (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $fail (local.get $n)) (return)))
      (local.set $h (call $http_send (i32.const ${getAt}) (i32.const 3) (i32.const 4096) (local.get $n)
        (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $fail (local.get $h)) (return)))
      (local.set $status (call $http_response_status (local.get $h)))`;
}

/** GETs the URL held in variable `urlVariable` and answers "STATUS BODY". */
export function fetcher(urlVariable: string): Promise<Uint8Array> {
  const [nameSeg, nameLen] = at(100, urlVariable);
  const [getSeg] = at(200, 'GET');
  return guest(
    `(func (export "_start") (local $n i32) (local $h i32) (local $status i32) (local $b i32)
      ${getFromVariable(100, nameLen, 200)}
      (local.set $b (call $http_response_body (local.get $h) (i32.const 8192) (i32.const 65536)))
      (if (i32.lt_s (local.get $b) (i32.const 0)) (then (call $fail (local.get $b)) (return)))
      (call $ok)
      ;; the status, a space, then the body
      (call $status3 (local.get $status))
      (i32.store8 (i32.const 83) (i32.const 32))
      (call $write (i32.const 80) (i32.const 4))
      (call $write (i32.const 8192) (local.get $b)))`,
    [nameSeg, getSeg],
  );
}

/**
 * GETs the URL held in variable `urlVariable` up to `times` times, closing each response, and
 * answers how many calls succeeded: "N", or "N error:C" when the next one failed with status -C.
 */
export function fetchTimes(urlVariable: string, times: number): Promise<Uint8Array> {
  const [nameSeg, nameLen] = at(100, urlVariable);
  const [getSeg] = at(200, 'GET');
  const [errSeg, errLen] = at(240, ' error:');
  return guest(
    `(func (export "_start") (local $n i32) (local $h i32) (local $i i32) (local $p i32)
      (local.set $n (call $variable_get (i32.const 100) (i32.const ${nameLen}) (i32.const 4096) (i32.const 2048)))
      (if (i32.lt_s (local.get $n) (i32.const 0)) (then (call $fail (local.get $n)) (return)))
      (call $ok)
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${times})))
        (local.set $h (call $http_send (i32.const 200) (i32.const 3) (i32.const 4096) (local.get $n) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
        (br_if $done (i32.lt_s (local.get $h) (i32.const 0)))
        (drop (call $http_close (local.get $h)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (local.set $p (call $itoa (i64.extend_i32_u (local.get $i))))
      (call $write (local.get $p) (i32.sub (i32.const 4200) (local.get $p)))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then
        (call $write (i32.const 240) (i32.const ${errLen}))
        (i32.store8 (i32.const 90) (i32.sub (i32.const 48) (local.get $h)))
        (call $write (i32.const 90) (i32.const 1)))))`,
    [nameSeg, getSeg, errSeg],
  );
}

/**
 * One request that uses every traced host call: increments `hits` in `store`, logs `message`,
 * then GETs the URL held in variable `urlVariable` and answers "STATUS" (three digits).
 */
export function kvLogFetch(store: string, urlVariable: string, message: string): Promise<Uint8Array> {
  const [storeSeg, storeLen] = at(100, store);
  const [keySeg, keyLen] = at(150, 'hits');
  const [nameSeg, nameLen] = at(200, urlVariable);
  const [getSeg] = at(250, 'GET');
  const [msgSeg, msgLen] = at(1000, message);
  return guest(
    `(func (export "_start") (local $h i32) (local $r i32) (local $n i32) (local $status i32)
      (local.set $h (call $kv_open (i32.const 100) (i32.const ${storeLen})))
      (if (i32.lt_s (local.get $h) (i32.const 0)) (then (call $fail (local.get $h)) (return)))
      (local.set $r (call $kv_increment (local.get $h) (i32.const 150) (i32.const ${keyLen}) (i64.const 1) (i32.const 64)))
      (if (i32.lt_s (local.get $r) (i32.const 0)) (then (call $fail (local.get $r)) (return)))
      (drop (call $log (i32.const 2) (i32.const 1000) (i32.const ${msgLen})))
      ${getFromVariable(200, nameLen, 250)}
      (call $ok)
      (call $status3 (local.get $status))
      (call $write (i32.const 80) (i32.const 3)))`,
    [storeSeg, keySeg, nameSeg, getSeg, msgSeg],
  );
}
