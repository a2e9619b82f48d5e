/**
 * The node's trust policy: the public keys it trusts (given at start) and the key ids it has
 * revoked (a file the operator edits while the node runs). When any key is trusted, every module
 * and manifest must carry a valid signature by a trusted, unrevoked key; when none is, nothing is
 * required. The revocation list is checked for changes (one stat) on every verification, so a
 * revocation takes effect on the next upload or load without a restart; a list that cannot be
 * read or parsed refuses everything until it is fixed, rather than forgetting revocations.
 */
import { readFileSync, statSync } from 'node:fs';
import { VergeError } from '../errors.js';
import { KEY_ID_BYTES, readPublicKey, readPublicKeys, type PublicKeyInfo } from './keys.js';
import { verifyManifestSignature, verifyModuleSignature, type KeyInfo, type TrustView, type Verified } from './verify.js';

export interface TrustOptions {
  /** Public key files (`--trust-key`, repeatable). */
  trustKeyFiles?: readonly string[];
  /** A file of PEM public keys, one after another (`--trust-file`). */
  trustFile?: string;
  /** Key ids revoked, one per line (`--revocation-file`); re-read when it changes. */
  revocationFile?: string;
}

export interface TrustPolicy {
  /** False when no key is trusted: then nothing is required and nothing is checked. */
  readonly active: boolean;
  readonly keys: readonly KeyInfo[];
  /** Throws SIGNATURE_* or KEY_REVOKED (or MODULE_INVALID for bytes that are no module) unless a trusted key signed `bytes`. */
  verifyModule(bytes: Uint8Array, detached: Uint8Array | undefined, label: string): Verified;
  /** The same for a manifest and its detached signature (`verge.toml.sig`). */
  verifyManifest(content: string | Uint8Array, signature: Uint8Array | undefined, label: string): Verified;
  /** The key ids revoked now (re-read if the file changed). */
  revokedKeyIds(): ReadonlySet<string>;
}

const NOTHING_REVOKED: ReadonlySet<string> = new Set();

export function loadTrustPolicy(opts: TrustOptions): TrustPolicy {
  const byId = new Map<string, PublicKeyInfo>();
  for (const k of [...(opts.trustKeyFiles ?? []).map(readPublicKey), ...(opts.trustFile ? readPublicKeys(opts.trustFile) : [])]) {
    if (!byId.has(k.keyId)) byId.set(k.keyId, k);
  }
  const keys = [...byId.values()];
  const revocations = opts.revocationFile ? revocationList(opts.revocationFile) : undefined;
  // Read once now: a list that is wrong at start stops the node, not its first upload.
  revocations?.current();
  const active = keys.length > 0;
  const view = (): TrustView => ({ keys, revoked: revocations?.current() ?? NOTHING_REVOKED, revocationSource: opts.revocationFile });
  const unsigned: Verified = Object.freeze({ signers: [] });
  return Object.freeze({
    active,
    keys: Object.freeze(keys.map((k) => Object.freeze({ keyId: k.keyId, source: k.source }))),
    verifyModule: (bytes: Uint8Array, detached: Uint8Array | undefined, label: string) => (active ? verifyModuleSignature(bytes, detached, view(), label) : unsigned),
    verifyManifest: (content: string | Uint8Array, signature: Uint8Array | undefined, label: string) => (active ? verifyManifestSignature(content, signature, view(), label) : unsigned),
    revokedKeyIds: () => revocations?.current() ?? NOTHING_REVOKED,
  });
}

const KEY_ID = new RegExp(`^[0-9a-f]{${KEY_ID_BYTES * 2}}$`);

/**
 * Within this long of its last change a file is re-read even when its stat looks the same: on a
 * file system with coarse timestamps, a rewrite of the same size in the same tick changes nothing
 * that stat shows (git's "racily clean" problem).
 */
const RACY_NS = 2_000_000_000n;

/** A revocation list re-read whenever its inode, size, mtime or ctime changed since the last read. */
export function revocationList(file: string): { current(): ReadonlySet<string> } {
  let stamp = '';
  let ids: ReadonlySet<string> = NOTHING_REVOKED;
  const unreadable = (detail: string) =>
    new VergeError('KEY_INVALID', `revocation list ${file}: ${detail}; until it is fixed every signature check fails (an empty file revokes nothing)`);
  return {
    current() {
      let now: string;
      let racy: boolean;
      try {
        const s = statSync(file, { bigint: true });
        now = `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
        racy = BigInt(Date.now()) * 1_000_000n - s.ctimeNs < RACY_NS;
      } catch (err) {
        throw unreadable(`cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      if (now === stamp && !racy) return ids;
      ids = parseRevocations(file, readFileSync(file, 'utf8'), unreadable);
      stamp = now;
      return ids;
    },
  };
}

/** One key id per line (24 hex digits, as the CLI prints them); `#` starts a comment; blank lines are ignored. */
export function parseRevocations(file: string, text: string, fail = (detail: string) => new VergeError('KEY_INVALID', `${file}: ${detail}`)): ReadonlySet<string> {
  const ids = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const entry = line.replace(/#.*/, '').trim().toLowerCase();
    if (entry === '') return;
    if (!KEY_ID.test(entry)) throw fail(`line ${i + 1}: "${entry.slice(0, 80)}" is not a key id; expected ${KEY_ID_BYTES * 2} hex digits, as verge keygen, sign and verify print them`);
    ids.add(entry);
  });
  return ids;
}
