/**
 * Verification: which trusted keys signed this module (or manifest), or the one stable code that
 * says why none did. Fail closed: no signature, a changed module, an unknown version or hash
 * function, an untrusted or revoked key are all refusals; nothing is accepted by default.
 *
 * Only whole-content signatures count: a signed hash set with exactly one hash, equal to the hash
 * of everything the signature covers. Sets of several hashes (the spec's partial signatures, made
 * by `wasmsign2 sign` after `split`) are refused with SIGNATURE_UNSUPPORTED unless another
 * signature by a trusted key covers the whole module.
 */
import { createHash, verify as verifyEd25519 } from 'node:crypto';
import { VergeError } from '../errors.js';
import { ALGORITHM_ED25519, CONTENT_TYPE, decodeSignatureData, hex, signedMessage, type SignatureData, type SignedHashes } from './format.js';
import type { PublicKeyInfo } from './keys.js';
import { embeddedSignature, hashSections, readSections } from './module.js';

/** The trust a verification runs against: the keys, and the key ids revoked at this moment. */
export interface TrustView {
  keys: readonly PublicKeyInfo[];
  revoked: ReadonlySet<string>;
  /** Where the revocations come from, for messages. */
  revocationSource?: string;
}

/** Who signed, as callers log and print it: never key material. */
export interface KeyInfo {
  keyId: string;
  source: string;
}

export interface Verified {
  signers: KeyInfo[];
}

/** A module's signatures, embedded (`detached` undefined) or detached, against `trust`. */
export function verifyModuleSignature(bytes: Uint8Array, detached: Uint8Array | undefined, trust: TrustView, label: string): Verified {
  const m = readSections(bytes, label);
  let data: Uint8Array;
  let covered = m.sections;
  if (detached === undefined) {
    const embedded = embeddedSignature(m, label);
    if (!embedded) throw new VergeError('SIGNATURE_MISSING', `${label}: carries no signature (no "signature" section first in the module, and no detached signature); this node requires one by a trusted key`);
    ({ data, covered } = embedded);
  } else {
    data = detached;
  }
  const decoded = decodeSignatureData(data, CONTENT_TYPE.module, label);
  return check(decoded, hashSections(m, covered), trust, label, 'module');
}

/** A manifest's detached signature: one SHA-256 hash over its exact bytes. */
export function verifyManifestSignature(content: string | Uint8Array, signature: Uint8Array | undefined, trust: TrustView, label: string): Verified {
  if (signature === undefined) throw new VergeError('SIGNATURE_MISSING', `${label}: has no signature file; this node requires the manifest to be signed by a trusted key`);
  const decoded = decodeSignatureData(signature, CONTENT_TYPE.manifest, label);
  return check(decoded, manifestHash(content), trust, label, 'manifest');
}

export function manifestHash(content: string | Uint8Array): Buffer {
  return createHash('sha256').update(content).digest();
}

interface Match {
  key: PublicKeyInfo;
  set: SignedHashes;
}

function check(data: SignatureData, hash: Uint8Array, trust: TrustView, label: string, what: 'module' | 'manifest'): Verified {
  const matches: Match[] = [];
  const claimed: PublicKeyInfo[] = [];
  const others: string[] = [];
  let otherAlgorithms = 0;
  for (const set of data.sets) {
    const message = signedMessage(data.contentType, set.hashes);
    for (const s of set.signatures) {
      if (s.algorithm !== ALGORITHM_ED25519) {
        otherAlgorithms++;
        continue;
      }
      // A key id says which key signed: only that key is tried, as wasmsign2 does (the id is not
      // signed, so trying others would accept a signature whose id was altered). A signature
      // without one is tried with every trusted key.
      const keyId = Buffer.from(s.keyId).toString('hex');
      const named = keyId ? trust.keys.find((k) => k.keyId === keyId) : undefined;
      const key = (keyId ? (named ? [named] : []) : trust.keys).find((k) => verifyEd25519(null, message, k.publicKey, s.signature));
      if (key) matches.push({ key, set });
      else if (named) claimed.push(named);
      else others.push(keyId ? `key ${keyId}` : 'a key with no key id');
    }
  }

  const wholeMatch = (m: Match) => m.set.hashes.length === 1 && Buffer.from(m.set.hashes[0]!).equals(hash);
  const revoked = (m: Match) => trust.revoked.has(m.key.keyId);
  const accepted = unique(matches.filter((m) => wholeMatch(m) && !revoked(m)).map((m) => m.key));
  if (accepted.length > 0) return { signers: accepted.map((k) => ({ keyId: k.keyId, source: k.source })) };

  const live = matches.filter((m) => !revoked(m));
  if (matches.length > 0 && live.length === 0) {
    const where = trust.revocationSource ? ` (${trust.revocationSource})` : '';
    throw new VergeError('KEY_REVOKED', `${label}: signed by ${keyList(unique(matches.map((m) => m.key)))}, revoked on this node${where}; re-sign with a key that is not revoked`);
  }
  const single = live.find((m) => m.set.hashes.length === 1);
  if (single) {
    const change = what === 'module' ? 'its code, data or sections were changed, added or removed' : 'its bytes were edited';
    throw new VergeError('SIGNATURE_INVALID', `${label}: does not match what key ${single.key.keyId} signed: the ${what} changed after it was signed (${change})`);
  }
  if (live.length > 0) {
    const parts = live[0]!.set.hashes.length;
    throw new VergeError('SIGNATURE_UNSUPPORTED', `${label}: key ${live[0]!.key.keyId} signed the ${what} in ${parts} parts (a partial signature); Verge verifies whole-${what} signatures only: sign it without splitting`);
  }
  if (claimed.length > 0) {
    throw new VergeError('SIGNATURE_INVALID', `${label}: the signature that names key ${claimed[0]!.keyId} does not verify with that key: the signature data was altered`);
  }
  if (others.length > 0) {
    const trusted = trust.keys.length > 0 ? trust.keys.map((k) => k.keyId).join(', ') : 'none';
    throw new VergeError('SIGNATURE_UNTRUSTED', `${label}: signed by ${[...new Set(others)].join(', ')}, which this node does not trust (trusted keys: ${trusted})`);
  }
  if (otherAlgorithms > 0) {
    const algorithms = [...new Set(data.sets.flatMap((set) => set.signatures.map((s) => `0x${hex(s.algorithm)}`)))];
    throw new VergeError('SIGNATURE_UNSUPPORTED', `${label}: signed only with signature algorithm ${algorithms.join(', ')}; Verge verifies Ed25519 (0x01)`);
  }
  throw new VergeError('SIGNATURE_MISSING', `${label}: its signature data holds no signatures; this node requires one by a trusted key`);
}

function unique(keys: PublicKeyInfo[]): PublicKeyInfo[] {
  return [...new Map(keys.map((k) => [k.keyId, k])).values()];
}

const keyList = (keys: PublicKeyInfo[]) => (keys.length === 1 ? `key ${keys[0]!.keyId}` : `keys ${keys.map((k) => k.keyId).join(', ')}`);
