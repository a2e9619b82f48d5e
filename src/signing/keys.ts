/**
 * Ed25519 key files and key ids. Verge writes PEM (PKCS#8 for the private key, SPKI for the public
 * key) and also reads wasmsign2's raw files (0x81 ‖ secret ‖ public, 0x01 ‖ public), so keys made
 * by either tool work with both. A key id is wasmsign2's default key identifier, in hex: the first
 * 12 bytes of HMAC-SHA256 keyed with the raw public key over "key_id". wasmsign2 refuses a
 * signature whose key id differs from the one it computes for the key, so using the same id is
 * what lets either tool verify the other's signatures.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { VergeError } from '../errors.js';

/** Bytes of a key id (24 hex digits). */
export const KEY_ID_BYTES = 12;
const RAW_PUBLIC_TAG = 0x01;
const RAW_KEY_PAIR_TAG = 0x81;
const RAW_KEY_BYTES = 32;
/** Larger than any key file in a format we read: refuse before reading something that is not a key. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface PublicKeyInfo {
  /** 24 lowercase hex digits; printed by every command, used in logs and revocation lists. */
  keyId: string;
  publicKey: KeyObject;
  /** Where the key came from (a file, or a key in the trust file), for messages. */
  source: string;
}

export interface SigningKey extends PublicKeyInfo {
  privateKey: KeyObject;
}

const keyInvalid = (file: string, detail: string) => new VergeError('KEY_INVALID', `${file}: ${detail}`);

export function rawPublicKey(publicKey: KeyObject): Buffer {
  return Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
}

/** The key id of a raw 32-byte Ed25519 public key, as bytes. */
export function keyIdBytes(raw: Uint8Array): Buffer {
  return createHmac('sha256', raw).update('key_id').digest().subarray(0, KEY_ID_BYTES);
}

export function keyIdOf(publicKey: KeyObject): string {
  return keyIdBytes(rawPublicKey(publicKey)).toString('hex');
}

export function generateSigningKey(source = 'a new key'): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId: keyIdOf(publicKey), privateKey, publicKey, source };
}

/**
 * Writes PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SPKI PEM). Refuses if either exists,
 * so a key in use is never replaced; if the second write fails, the first is removed again.
 */
export function writeKeyPair(prefix: string, key: SigningKey = generateSigningKey()): { keyFile: string; publicFile: string; keyId: string } {
  const keyFile = `${prefix}.key`;
  const publicFile = `${prefix}.pub`;
  for (const f of [keyFile, publicFile]) {
    if (existsSync(f)) throw keyInvalid(f, 'already exists; Verge never overwrites a key file (move it away, or choose another prefix with -o)');
  }
  const pem = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ format: 'pem', type }) as string;
  // 'wx' creates or fails, so a file that appeared since the check above is not replaced either.
  writeFileSync(keyFile, pem(key.privateKey, 'pkcs8'), { mode: 0o600, flag: 'wx' });
  try {
    writeFileSync(publicFile, pem(key.publicKey, 'spki'), { mode: 0o644, flag: 'wx' });
  } catch (err) {
    rmSync(keyFile);
    throw err;
  }
  return { keyFile, publicFile, keyId: key.keyId };
}

function readKeyFile(file: string): Buffer {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw keyInvalid(file, `cannot read the key file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (size > MAX_KEY_FILE_BYTES) throw keyInvalid(file, `is ${size} bytes; a key file is at most ${MAX_KEY_FILE_BYTES} bytes`);
  return readFileSync(file);
}

/** A private key file: PKCS#8 PEM, or wasmsign2's raw key pair. Refused when others can read it. */
export function readSigningKey(file: string): SigningKey {
  const bytes = readKeyFile(file);
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw keyInvalid(file, `is a private key readable by others (mode 0${mode.toString(8)}); run chmod 600 ${file}`);
  }
  let privateKey: KeyObject;
  if (bytes.length === 1 + 2 * RAW_KEY_BYTES && bytes[0] === RAW_KEY_PAIR_TAG) {
    const seed = bytes.subarray(1, 1 + RAW_KEY_BYTES);
    const publicRaw = bytes.subarray(1 + RAW_KEY_BYTES);
    privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: publicRaw.toString('base64url') }, format: 'jwk' });
    if (!rawPublicKey(createPublicKey(privateKey)).equals(publicRaw)) throw keyInvalid(file, 'is a wasmsign2 key pair whose public half does not match its secret half');
  } else {
    privateKey = parsePem(file, bytes, 'private');
  }
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey, source: file };
}

/** A public key file: SPKI PEM, or wasmsign2's raw public key. */
export function readPublicKey(file: string): PublicKeyInfo {
  const bytes = readKeyFile(file);
  if (bytes.length === 1 + RAW_KEY_BYTES && bytes[0] === RAW_PUBLIC_TAG) {
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: bytes.subarray(1).toString('base64url') }, format: 'jwk' });
    return { keyId: keyIdOf(publicKey), publicKey, source: file };
  }
  if (bytes.length === 1 + 2 * RAW_KEY_BYTES && bytes[0] === RAW_KEY_PAIR_TAG) throw keyInvalid(file, 'is a wasmsign2 secret key; trust the public key file, never the secret key');
  const keys = readPublicKeys(file, bytes);
  if (keys.length !== 1) throw keyInvalid(file, `holds ${keys.length} public keys; a key file holds one (list several in a trust file)`);
  return keys[0]!;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/** Every PEM public key in a file (a trust file is such a bundle). Text outside the blocks may be comments. */
export function readPublicKeys(file: string, bytes: Buffer = readKeyFile(file)): PublicKeyInfo[] {
  const text = bytes.toString('utf8');
  const blocks = [...text.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw keyInvalid(file, 'holds no PEM block; expected "-----BEGIN PUBLIC KEY-----" (Ed25519, SPKI), as `verge keygen` writes, or a 33-byte wasmsign2 public key');
  return blocks.map((m, i) => {
    const source = blocks.length > 1 ? `${file} (key ${i + 1})` : file;
    if (m[1] !== 'PUBLIC KEY') {
      const hint = /PRIVATE/.test(m[1]!) ? '; trust the .pub file, never the private key' : '';
      throw keyInvalid(source, `is a "${m[1]}" block; expected "PUBLIC KEY" (Ed25519, SPKI)${hint}`);
    }
    const publicKey = parsePem(source, Buffer.from(m[0]), 'public');
    return { keyId: keyIdOf(publicKey), publicKey, source };
  });
}

function parsePem(file: string, bytes: Buffer, kind: 'private' | 'public'): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey({ key: bytes, format: 'pem' }) : createPublicKey({ key: bytes, format: 'pem' });
  } catch (err) {
    const encrypted = kind === 'private' && /ENCRYPTED/.test(bytes.toString('latin1'));
    const detail = encrypted ? 'is encrypted with a passphrase; Verge reads unencrypted PKCS#8 keys (keep the file mode 0600 instead)' : `is not a PEM ${kind} key (${(err as Error).message})`;
    throw keyInvalid(file, detail);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw keyInvalid(file, `is a ${key.asymmetricKeyType ?? 'unknown'} key; Verge signs with Ed25519 keys (make one with verge keygen)`);
  return key;
}
