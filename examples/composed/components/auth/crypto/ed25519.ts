/**
 * Ed25519 signature verification (RFC 8032, section 5.1.7), on BigInt. The component's WebCrypto
 * has no Ed25519 (`NotSupportedError: Algorithm: Unrecognized name`), so it is done here; it is
 * checked against node:crypto (OpenSSL) in test/crypto.test.ts.
 *
 * Like OpenSSL, verification computes R' = [S]B - [k]A and compares its canonical encoding with
 * the signature's R bytes (so a non-canonical R never verifies), refuses S >= L, and refuses a
 * public key whose y is not below p or that is not a point of the curve.
 */
import { sha512 } from './sha2.js';

const P = 2n ** 255n - 19n;
/** The order of the base point. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * invert(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

/** A point in extended coordinates: x = X/Z, y = Y/Z, x*y = T/Z. */
interface Point {
  X: bigint;
  Y: bigint;
  Z: bigint;
  T: bigint;
}

const BASE: Point = (() => {
  const y = mod(4n * invert(5n));
  const x = recoverX(y, 0)!;
  return { X: x, Y: y, Z: 1n, T: mod(x * y) };
})();
const IDENTITY: Point = { X: 0n, Y: 1n, Z: 1n, T: 0n };

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}

function invert(a: bigint): bigint {
  return pow(a, P - 2n);
}

/** The x with the given sign bit for y on the curve, or undefined when there is none. */
function recoverX(y: bigint, sign: number): bigint | undefined {
  const y2 = (y * y) % P;
  const u = mod(y2 - 1n);
  const v = mod(D * y2 + 1n);
  // x = u v^3 (u v^7)^((p-5)/8), then a fix-up by sqrt(-1) if needed (RFC 8032, 5.1.3).
  const v3 = (v * v * v) % P;
  let x = mod(u * v3 * pow(u * v3 * v3 * v, (P - 5n) / 8n));
  const vx2 = mod(v * x * x);
  if (vx2 !== u) {
    if (vx2 !== mod(-u)) return undefined;
    x = (x * SQRT_M1) % P;
  }
  if (x === 0n && sign === 1) return undefined;
  if (Number(x & 1n) !== sign) x = P - x;
  return x;
}

function add(p: Point, q: Point): Point {
  // add-2008-hwcd-3 for a = -1.
  const a = mod((p.Y - p.X) * (q.Y - q.X));
  const b = ((p.Y + p.X) * (q.Y + q.X)) % P;
  const c = (((2n * p.T * q.T) % P) * D) % P;
  const d = (2n * p.Z * q.Z) % P;
  const e = mod(b - a);
  const f = mod(d - c);
  const g = (d + c) % P;
  const h = (b + a) % P;
  return { X: (e * f) % P, Y: (g * h) % P, Z: (f * g) % P, T: (e * h) % P };
}

function double(p: Point): Point {
  // dbl-2008-hwcd for a = -1.
  const a = (p.X * p.X) % P;
  const b = (p.Y * p.Y) % P;
  const c = (2n * p.Z * p.Z) % P;
  const h = (a + b) % P;
  const e = mod(h - mod((p.X + p.Y) * (p.X + p.Y)));
  const g = mod(a - b);
  const f = (c + g) % P;
  return { X: (e * f) % P, Y: (g * h) % P, Z: (f * g) % P, T: (e * h) % P };
}

function negate(p: Point): Point {
  return { X: mod(-p.X), Y: p.Y, Z: p.Z, T: mod(-p.T) };
}

/** [a]P + [b]Q, with one doubling per bit for both (Shamir's trick). */
function doubleMultiply(a: bigint, p: Point, b: bigint, q: Point): Point {
  const pq = add(p, q);
  let r = IDENTITY;
  const bits = Math.max(a.toString(2).length, b.toString(2).length);
  for (let i = BigInt(bits - 1); i >= 0n; i--) {
    r = double(r);
    const ai = (a >> i) & 1n;
    const bi = (b >> i) & 1n;
    if (ai && bi) r = add(r, pq);
    else if (ai) r = add(r, p);
    else if (bi) r = add(r, q);
  }
  return r;
}

function encode(p: Point): Uint8Array {
  const zInv = invert(p.Z);
  const x = (p.X * zInv) % P;
  const y = (p.Y * zInv) % P;
  const out = littleEndianBytes(y, 32);
  out[31]! |= Number(x & 1n) << 7;
  return out;
}

function decode(bytes: Uint8Array): Point | undefined {
  const copy = bytes.slice();
  const sign = copy[31]! >> 7;
  copy[31]! &= 0x7f;
  const y = littleEndianInt(copy);
  if (y >= P) return undefined;
  const x = recoverX(y, sign);
  return x === undefined ? undefined : { X: x, Y: y, Z: 1n, T: (x * y) % P };
}

function littleEndianInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function littleEndianBytes(n: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  return out;
}

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

/** Whether `signature` is a valid Ed25519 signature of `message` under `publicKey`. */
export function ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  const a = decode(publicKey);
  if (!a) return false;
  const s = littleEndianInt(signature.subarray(32));
  if (s >= L) return false;
  const hashed = new Uint8Array(64 + message.length);
  hashed.set(signature.subarray(0, 32));
  hashed.set(publicKey, 32);
  hashed.set(message, 64);
  const k = mod(littleEndianInt(sha512(hashed)), L);
  const r = encode(doubleMultiply(s, BASE, k, negate(a)));
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= r[i]! ^ signature[i]!;
  return diff === 0;
}
