/**
 * `verge keygen`, `verge sign` and `verge verify`: reading and writing files around src/signing.
 * A file that starts like WebAssembly is a module (or component); anything else, such as a
 * verge.toml, is signed and verified as plain bytes, with a detached signature.
 */
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { VergeError } from '../errors.js';
import { MAX_MODULE_BYTES } from '../manifest/config.js';
import { loadTrustPolicy, readSigningKey, signManifest, signModule, signModuleDetached, writeKeyPair, type KeyInfo, type TrustOptions } from '../signing/index.js';

type Say = (line: string) => void;

const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);
const isWasm = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 4)).equals(WASM_MAGIC);

export function keygenCommand(prefix: string, say: Say): void {
  const { keyFile, publicFile, keyId } = writeKeyPair(prefix);
  say(`Wrote ${keyFile} (private key, mode 0600: keep it secret) and ${publicFile} (public key: give it to nodes with --trust-key)`);
  say(`key id ${keyId}`);
}

export interface SignOptions {
  key: string;
  output?: string;
  detached?: string;
}

export function signCommand(file: string, o: SignOptions, say: Say): void {
  const key = readSigningKey(o.key);
  const bytes = readInput(file, 'the file to sign');
  const wasm = isWasm(bytes);
  if (o.detached !== undefined) {
    const existing = existsSync(o.detached) ? readInput(o.detached, 'the detached signature') : undefined;
    const signed = wasm ? signModuleDetached(bytes, key, existing, file) : signManifest(bytes, key, existing, file);
    if (signed.added) writeAtomically(o.detached, signed.signature);
    reportSigned(say, file, `detached in ${o.detached}`, key.keyId, signed);
    return;
  }
  if (!wasm) throw new VergeError('MODULE_INVALID', `${file}: not a WebAssembly module or component; to sign other content (such as a verge.toml), give --detached FILE`);
  const signed = signModule(bytes, key, file);
  const out = o.output ?? file;
  if (signed.added || out !== file) writeAtomically(out, signed.module, statSync(file).mode & 0o777);
  reportSigned(say, file, out === file ? 'embedded' : `embedded, written to ${out}`, key.keyId, signed);
}

function reportSigned(say: Say, file: string, how: string, keyId: string, s: { added: boolean; signers: string[]; stale: number }): void {
  say(s.added ? `Signed ${file} with key ${keyId} (${how})` : `${file} is already signed by key ${keyId}; nothing changed`);
  say(`signers: ${s.signers.join(', ')}`);
  if (s.stale > 0) say(`note: ${s.stale} older signature${s.stale === 1 ? ' is' : 's are'} over earlier content and no longer verify${s.stale === 1 ? 's' : ''}`);
}

export interface VerifyOptions extends TrustOptions {
  signature?: string;
}

/** Returns the signers; throws the stable code when no trusted key signed the file. */
export function verifyCommand(file: string, o: VerifyOptions, say: Say): KeyInfo[] {
  const policy = loadTrustPolicy(o);
  if (!policy.active) throw new VergeError('KEY_INVALID', 'verge verify: give at least one --trust-key or --trust-file; without a trusted key there is nothing to verify against');
  const bytes = readInput(file, 'the file to verify');
  const detached = o.signature === undefined ? undefined : readInput(o.signature, 'the detached signature');
  const { signers } = isWasm(bytes) ? policy.verifyModule(bytes, detached, file) : policy.verifyManifest(bytes, detached, file);
  say(`ok  ${file}: signed by ${signers.map((s) => `key ${s.keyId} (${s.source})`).join(', ')}`);
  return signers;
}

/** Reads a module or signature file, refusing a missing one or one over the module size limit before reading it. */
function readInput(file: string, what: string): Uint8Array {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new VergeError('MODULE_INVALID', `${file}: cannot read ${what} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (size > MAX_MODULE_BYTES) throw new VergeError('MODULE_TOO_LARGE', `${file}: ${size} bytes, over the limit of ${MAX_MODULE_BYTES} bytes`);
  return readFileSync(file);
}

/** Write beside the target and rename over it, so a failure never leaves a half-written module or signature. */
function writeAtomically(file: string, bytes: Uint8Array, mode = 0o644): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temp, bytes, { mode, flag: 'wx' });
    chmodSync(temp, mode);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
