/**
 * A ~300 KB WAGI module for the first-request measurement: many small functions (all reachable:
 * they sit in a table and `_start` calls every one through call_indirect), then a CGI answer
 * "200, text/plain, big module ok". Compiled from WAT with the `wabt` package.
 */
import wabtInit from 'wabt';

export const BIG_BODY = 'big module ok\n';
const RESPONSE = `Content-Type: text/plain\n\n${BIG_BODY}`;
const RESPONSE_AT = 64;

function watEscape(s: string): string {
  return [...Buffer.from(s, 'utf8')].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : '\\' + b.toString(16).padStart(2, '0'))).join('');
}

/** A deterministic pseudo-random 28-bit constant (5-byte LEB128), so bodies do not repeat. */
function constant(i: number, k: number): number {
  let x = (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(k + 7, 0x85ebca6b)) >>> 0;
  x ^= x >>> 15;
  return (x & 0x0fffffff) | 0x08000000;
}

export function bigModuleWat(functions: number, opsPerFunction = 12): string {
  const lines: string[] = [];
  lines.push('(module');
  lines.push('  (type $t (func (param i32) (result i32)))');
  lines.push('  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))');
  lines.push('  (memory (export "memory") 1)');
  lines.push(`  (table ${functions} funcref)`);
  const names: string[] = [];
  for (let i = 0; i < functions; i++) names.push(`$f${i}`);
  lines.push(`  (elem (i32.const 0) ${names.join(' ')})`);
  lines.push(`  (data (i32.const ${RESPONSE_AT}) "${watEscape(RESPONSE)}")`);
  lines.push(`  (func (export "_start") (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${functions})))
        (local.set $acc (call_indirect (type $t) (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (i32.const 48) (local.get $acc))
    (i32.store (i32.const 0) (i32.const ${RESPONSE_AT}))
    (i32.store (i32.const 4) (i32.const ${Buffer.byteLength(RESPONSE)}))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))`);
  for (let i = 0; i < functions; i++) {
    const ops: string[] = [];
    for (let k = 0; k < opsPerFunction; k++) {
      ops.push(`local.get 0 i32.const ${constant(i, 2 * k)} i32.mul i32.const ${constant(i, 2 * k + 1)} i32.xor local.set 0`);
    }
    lines.push(`  (func $f${i} (type $t) ${ops.join(' ')} local.get 0)`);
  }
  lines.push(')');
  return lines.join('\n');
}

export async function compileWat(name: string, wat: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(name, wat);
  try {
    mod.validate();
    return mod.toBinary({}).buffer.slice();
  } finally {
    mod.destroy();
  }
}

/** Builds a module of about `targetBytes`: measures the per-function size on a small one first. */
export async function buildBigModule(targetBytes: number): Promise<{ bytes: Uint8Array; functions: number }> {
  const a = (await compileWat('a.wat', bigModuleWat(100))).length;
  const b = (await compileWat('b.wat', bigModuleWat(200))).length;
  const perFunction = (b - a) / 100;
  const fixed = a - 100 * perFunction;
  const functions = Math.max(1, Math.round((targetBytes - fixed) / perFunction));
  return { bytes: await compileWat('big.wat', bigModuleWat(functions)), functions };
}
