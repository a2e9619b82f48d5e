/**
 * Signing: one Ed25519 signature over one hash of the whole content, added to the signatures the
 * content already carries (several signers share one hash set, as wasmsign2 writes them). Signing
 * again with a key that already signed changes nothing.
 */
import { sign as signEd25519, verify as verifyEd25519 } from 'node:crypto';
import { ALGORITHM_ED25519, CONTENT_TYPE, decodeSignatureData, encodeSignatureData, signedMessage, type ContentType, type SignedHashes } from './format.js';
import type { SigningKey } from './keys.js';
import { embedSignature, embeddedSignature, hashSections, readSections } from './module.js';
import { manifestHash } from './verify.js';

export interface Signed {
  /** The signature data: a detached signature file, or the payload of the embedded section. */
  signature: Uint8Array;
  /** False when the key had already signed this content (nothing changed). */
  added: boolean;
  /** Key ids (hex) of every signature over this content now, in order: other signers first. */
  signers: string[];
  /** Signatures kept from before that are over other content (the module changed since): they no longer verify. */
  stale: number;
}

/** Signs a module in place: the result has the signature section first, keeping earlier signers. */
export function signModule(bytes: Uint8Array, key: SigningKey, label: string): Signed & { module: Uint8Array } {
  const m = readSections(bytes, label);
  const embedded = embeddedSignature(m, label);
  const signed = addSignature(embedded?.data, CONTENT_TYPE.module, hashSections(m, embedded?.covered ?? m.sections), key, label);
  return { ...signed, module: embedSignature(m, signed.signature) };
}

/** A detached signature over the module exactly as it is (every section), added to `existing` if given. */
export function signModuleDetached(bytes: Uint8Array, key: SigningKey, existing: Uint8Array | undefined, label: string): Signed {
  const m = readSections(bytes, label);
  return addSignature(existing, CONTENT_TYPE.module, hashSections(m, m.sections), key, label);
}

/** A detached signature over a manifest's exact bytes (`verge.toml.sig` in a bundle). */
export function signManifest(content: string | Uint8Array, key: SigningKey, existing: Uint8Array | undefined, label: string): Signed {
  return addSignature(existing, CONTENT_TYPE.manifest, manifestHash(content), key, label);
}

function addSignature(existing: Uint8Array | undefined, contentType: ContentType, hash: Uint8Array, key: SigningKey, label: string): Signed {
  const sets: SignedHashes[] = existing ? decodeSignatureData(existing, contentType, label).sets : [];
  const message = signedMessage(contentType, [hash]);
  let set = sets.find((s) => s.hashes.length === 1 && Buffer.from(s.hashes[0]!).equals(hash));
  const already = set?.signatures.some((s) => s.algorithm === ALGORITHM_ED25519 && verifyEd25519(null, message, key.publicKey, s.signature)) ?? false;
  if (!set) {
    set = { hashes: [hash], signatures: [] };
    sets.push(set);
  }
  if (!already) set.signatures.push({ keyId: Buffer.from(key.keyId, 'hex'), algorithm: ALGORITHM_ED25519, signature: signEd25519(null, message, key.privateKey) });
  const stale = sets.filter((s) => s !== set).reduce((n, s) => n + s.signatures.length, 0);
  return {
    signature: encodeSignatureData({ contentType, sets }),
    added: !already,
    signers: set.signatures.map((s) => Buffer.from(s.keyId).toString('hex') || '(no key id)'),
    stale,
  };
}
