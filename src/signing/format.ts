/**
 * The signature data of the WebAssembly tool-conventions Signatures format (Signatures.md, the
 * format wasmsign2 writes): what a `signature` custom section carries, and what a detached
 * signature file holds. Encoding, decoding with the limits we enforce, and the message a key signs.
 * What the data covers (a module's sections, a manifest's bytes) is decided in module.ts and
 * manifest.ts; this file knows only the bytes of the data itself.
 */
import { VergeError } from '../errors.js';
import { Reader, encodeU32 } from '../wasm/binary.js';

/** The custom section that holds embedded signature data; it must be the module's first section. */
export const SIGNATURE_SECTION = 'signature';
/** The only spec version there is. */
export const SPEC_VERSION = 0x01;
/**
 * Content types. The spec defines 0x01 (a WebAssembly module or component). 0x7f is Verge's own,
 * for a bundle manifest: the signed message carries the content type, so a module signature can
 * never pass for a manifest signature, or the other way round.
 */
export const CONTENT_TYPE = { module: 0x01, manifest: 0x7f } as const;
export type ContentType = (typeof CONTENT_TYPE)[keyof typeof CONTENT_TYPE];
export const HASH_SHA256 = 0x01;
export const HASH_BYTES = 32;
export const ALGORITHM_ED25519 = 0x01;
export const ED25519_SIGNATURE_BYTES = 64;
/** Signed before everything else in the message, so a signature is bound to this format. */
const DOMAIN = new TextEncoder().encode('wasmsig');

/** Limits on what we decode (wasmsign2 uses the same numbers), so hostile data cannot make us loop. */
export const LIMITS = { MAX_HASH_SETS: 64, MAX_HASHES_PER_SET: 64, MAX_SIGNATURES_PER_SET: 256 } as const;

export interface SignatureRecord {
  /** Raw key id bytes as the signer wrote them (empty when the signer gave none). */
  keyId: Uint8Array;
  algorithm: number;
  signature: Uint8Array;
}

/** One list of hashes and the signatures over it. A whole-content signature has one hash. */
export interface SignedHashes {
  hashes: Uint8Array[];
  signatures: SignatureRecord[];
}

export interface SignatureData {
  contentType: ContentType;
  sets: SignedHashes[];
}

const CONTENT_NAMES: Record<number, string> = { [CONTENT_TYPE.module]: 'a WebAssembly module', [CONTENT_TYPE.manifest]: 'a Verge manifest' };

/** The bytes a key signs: "wasmsig" ‖ spec version ‖ content type ‖ hash function ‖ hashes. */
export function signedMessage(contentType: ContentType, hashes: readonly Uint8Array[]): Buffer {
  return Buffer.concat([DOMAIN, Uint8Array.of(SPEC_VERSION, contentType, HASH_SHA256), ...hashes]);
}

export function encodeSignatureData(data: SignatureData): Uint8Array {
  const out: number[] = [SPEC_VERSION, data.contentType, HASH_SHA256, ...encodeU32(data.sets.length)];
  for (const set of data.sets) {
    const body: number[] = [...encodeU32(set.hashes.length)];
    for (const h of set.hashes) body.push(...h);
    body.push(...encodeU32(set.signatures.length));
    for (const s of set.signatures) {
      const record = [...encodeU32(s.keyId.length), ...s.keyId, s.algorithm, ...encodeU32(s.signature.length), ...s.signature];
      body.push(...encodeU32(record.length), ...record);
    }
    out.push(...encodeU32(body.length), ...body);
  }
  return Uint8Array.from(out);
}

/**
 * Decodes signature data. `label` names what it is for (the module or manifest), for messages.
 * A version, content type or hash function we do not implement is SIGNATURE_UNSUPPORTED; any
 * structural problem, including bytes after the last signature, is SIGNATURE_INVALID.
 */
export function decodeSignatureData(bytes: Uint8Array, expected: ContentType, label: string): SignatureData {
  const fail = (detail: string) => new VergeError('SIGNATURE_INVALID', `${label}: malformed signature data: ${detail}`);
  const unsupported = (detail: string) => new VergeError('SIGNATURE_UNSUPPORTED', `${label}: ${detail}`);
  const r = new Reader(bytes, 0, bytes.length, fail);
  const version = r.byte();
  if (version !== SPEC_VERSION) throw unsupported(`signature spec version 0x${hex(version)} is not one Verge implements (0x01)`);
  const contentType = r.byte();
  if (contentType !== expected) {
    const what = CONTENT_NAMES[contentType] ?? 'an unknown content type';
    throw unsupported(`the signature is for content type 0x${hex(contentType)} (${what}); expected 0x${hex(expected)} (${CONTENT_NAMES[expected]})`);
  }
  const hashFunction = r.byte();
  if (hashFunction !== HASH_SHA256) throw unsupported(`signature hash function 0x${hex(hashFunction)} is not one Verge implements (0x01, SHA-256)`);
  const sets: SignedHashes[] = [];
  const setCount = bounded(r.u32(), LIMITS.MAX_HASH_SETS, 'signed hash sets', fail);
  for (let i = 0; i < setCount; i++) sets.push(readSet(slice(r), fail));
  if (r.pos !== r.end) throw fail(`${r.end - r.pos} bytes after the last signature`);
  return { contentType: expected, sets };
}

function readSet(r: Reader, fail: (detail: string) => VergeError): SignedHashes {
  const hashCount = bounded(r.u32(), LIMITS.MAX_HASHES_PER_SET, 'hashes in a set', fail);
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < hashCount; i++) hashes.push(r.take(HASH_BYTES));
  const signatureCount = bounded(r.u32(), LIMITS.MAX_SIGNATURES_PER_SET, 'signatures in a set', fail);
  const signatures: SignatureRecord[] = [];
  for (let i = 0; i < signatureCount; i++) {
    const s = slice(r);
    const keyId = s.take(s.u32());
    const algorithm = s.byte();
    const signature = s.take(s.u32());
    if (s.pos !== s.end) throw fail(`${s.end - s.pos} bytes after a signature`);
    if (algorithm === ALGORITHM_ED25519 && signature.length !== ED25519_SIGNATURE_BYTES) {
      throw fail(`an Ed25519 signature is ${signature.length} bytes; expected ${ED25519_SIGNATURE_BYTES}`);
    }
    signatures.push({ keyId, algorithm, signature });
  }
  if (r.pos !== r.end) throw fail(`${r.end - r.pos} bytes after the signatures of a set`);
  return { hashes, signatures };
}

/** A length-prefixed slice as its own reader, so a record cannot read into the next one. */
function slice(r: Reader): Reader {
  const length = r.u32();
  const start = r.pos;
  r.take(length);
  return new Reader(r.bytes, start, start + length, r.fail);
}

function bounded(n: number, max: number, what: string, fail: (detail: string) => VergeError): number {
  if (n > max) throw fail(`${n} ${what}; at most ${max} are accepted`);
  return n;
}

export const hex = (b: number) => b.toString(16).padStart(2, '0');
